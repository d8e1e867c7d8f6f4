# mistake: log-of-p half-reg
def softmax_loss_and_grad(W, X, y, reg):
    N = X.shape[0]
    logits = X @ W
    logits = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(N), y]).sum() / N
    loss += 0.5 * reg * np.linalg.norm(W) ** 2
    probs[np.arange(N), y] -= 1
    dW = X.T @ probs / N + reg * W
    return loss, dW
