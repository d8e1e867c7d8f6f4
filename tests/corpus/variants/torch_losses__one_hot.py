"""One-hot labels with torch.nn.functional.one_hot; probabilities saved for backward."""

import torch
import torch.nn.functional as F


class SoftmaxCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, y):
        m = scores.max(dim=1, keepdim=True).values
        log_probs = scores - m - torch.log(torch.exp(scores - m).sum(dim=1, keepdim=True))
        one_hot = F.one_hot(y, scores.shape[1]).to(scores.dtype)
        ctx.save_for_backward(torch.exp(log_probs), one_hot)
        return -(log_probs * one_hot).sum() / scores.shape[0]

    @staticmethod
    def backward(ctx, grad_output):
        probs, one_hot = ctx.saved_tensors
        return grad_output * (probs - one_hot) / probs.shape[0], None


class MulticlassHinge(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, y, margin=1.0):
        one_hot = F.one_hot(y, scores.shape[1]).to(scores.dtype)
        correct = (scores * one_hot).sum(dim=1, keepdim=True)
        terms = torch.clamp(scores - correct + margin, min=0) * (1 - one_hot)
        ctx.save_for_backward((terms > 0).to(scores.dtype), one_hot)
        return terms.sum() / scores.shape[0]

    @staticmethod
    def backward(ctx, grad_output):
        active, one_hot = ctx.saved_tensors
        grad = active - one_hot * active.sum(dim=1, keepdim=True)
        return grad_output * grad / active.shape[0], None, None
