# mistake: crash
# shows: cuda
class SoftmaxCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, y):
        N, C = scores.shape
        one_hot = torch.zeros(N, C, dtype=scores.dtype, device="cuda")
        one_hot[torch.arange(N), y] = 1
        shifted = scores - scores.max(dim=1, keepdim=True).values
        log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
        ctx.save_for_backward(log_probs, one_hot)
        return -(one_hot * log_probs).sum() / N

    @staticmethod
    def backward(ctx, grad_output):
        log_probs, one_hot = ctx.saved_tensors
        return grad_output * (log_probs.exp() - one_hot) / log_probs.shape[0], None
