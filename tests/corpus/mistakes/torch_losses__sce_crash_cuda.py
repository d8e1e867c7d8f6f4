# mistake: crash
# shows: cuda
class SoftmaxCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, y):
        device = torch.device("cuda")
        idx = torch.arange(scores.size(0), device=device)
        z = scores - scores.max(1, keepdim=True)[0]
        logp = z - torch.logsumexp(z, dim=1, keepdim=True)
        ctx.save_for_backward(logp, y)
        return -logp[idx, y].mean()

    @staticmethod
    def backward(ctx, grad_output):
        logp, y = ctx.saved_tensors
        g = torch.exp(logp)
        g[torch.arange(g.size(0), device=g.device), y] -= 1.0
        return g * grad_output / g.size(0), None
