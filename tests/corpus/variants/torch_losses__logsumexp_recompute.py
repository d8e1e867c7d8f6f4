"""torch.logsumexp forward; the backward recomputes softmax from saved scores; hinge by masks."""

import torch


class SoftmaxCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, y):
        ctx.save_for_backward(scores, y)
        picked = scores.gather(1, y.view(-1, 1)).squeeze(1)
        return (torch.logsumexp(scores, dim=1) - picked).mean()

    @staticmethod
    def backward(ctx, grad_output):
        scores, y = ctx.saved_tensors
        probs = torch.softmax(scores, dim=1)
        one_hot = torch.zeros_like(probs)
        one_hot.scatter_(1, y.view(-1, 1), 1.0)
        return (probs - one_hot) * (grad_output / scores.shape[0]), None


class MulticlassHinge(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, y, margin=1.0):
        n = scores.shape[0]
        is_correct = torch.zeros_like(scores, dtype=torch.bool)
        is_correct[torch.arange(n, device=scores.device), y] = True
        correct = scores[is_correct].view(n, 1)
        terms = torch.where(is_correct, torch.zeros_like(scores), scores - correct + margin)
        ctx.save_for_backward(terms, is_correct)
        return torch.relu(terms).sum() / n

    @staticmethod
    def backward(ctx, grad_output):
        terms, is_correct = ctx.saved_tensors
        active = (terms > 0).to(terms.dtype)
        grad = active - is_correct.to(terms.dtype) * active.sum(dim=1, keepdim=True)
        return grad * grad_output / terms.shape[0], None, None
