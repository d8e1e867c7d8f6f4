# mistake: half-reg grad-not-averaged
def softmax_loss_and_grad(W, X, y, reg):
    N = X.shape[0]
    scores = X @ W
    scores -= scores.max(axis=1, keepdims=True)
    lse = np.log(np.exp(scores).sum(axis=1))
    loss = np.mean(lse - scores[np.arange(N), y]) + 0.5 * reg * np.sum(W * W)
    d = np.exp(scores - lse[:, None])
    d[np.arange(N), y] -= 1
    dW = X.T @ d + reg * W
    return loss, dW
