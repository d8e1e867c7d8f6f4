# mistake: crash
# shows: cuda
class MulticlassHinge(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, y, margin=1.0):
        N = scores.shape[0]
        rows = torch.arange(N).cuda()
        correct = scores[rows, y].view(-1, 1)
        margins = torch.clamp(scores - correct + margin, min=0)
        margins[rows, y] = 0
        ctx.save_for_backward((margins > 0).to(scores.dtype), y)
        return margins.sum() / N

    @staticmethod
    def backward(ctx, grad_output):
        active, y = ctx.saved_tensors
        N = active.shape[0]
        d = active.clone()
        d[torch.arange(N, device=active.device), y] = -active.sum(dim=1)
        return grad_output * d / N, None, None
