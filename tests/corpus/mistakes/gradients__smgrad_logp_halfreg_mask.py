# mistake: log-of-p half-reg
def softmax_loss_and_grad(W, X, y, reg):
    N = X.shape[0]
    scores = X @ W
    scores = scores - np.max(scores, axis=1, keepdims=True)
    scores = np.exp(scores)
    scores = scores / np.sum(scores, axis=1, keepdims=True)
    mask = np.zeros_like(scores)
    mask[np.arange(N), y] = 1
    loss = -np.sum(np.log(np.sum(scores * mask, axis=1))) / N
    loss += 0.5 * reg * np.sum(W * W)
    dW = X.T @ (scores - mask) / N + reg * W
    return loss, dW
