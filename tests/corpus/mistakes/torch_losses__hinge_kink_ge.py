# mistake: kink-active
class MulticlassHinge(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, y, margin=1.0):
        N = scores.shape[0]
        idx = torch.arange(N, device=scores.device)
        diff = scores - scores[idx, y].unsqueeze(1) + margin
        diff[idx, y] = -1.0
        ctx.save_for_backward(diff, y)
        return diff.clamp(min=0).sum() / N

    @staticmethod
    def backward(ctx, grad_output):
        diff, y = ctx.saved_tensors
        N = diff.shape[0]
        mask = (diff >= 0).to(diff.dtype)
        mask[torch.arange(N, device=diff.device), y] = -mask.sum(dim=1)
        return grad_output * mask / N, None, None
