# mistake: log-of-p
def softmax_loss_and_grad(W, X, y, reg):
    N = X.shape[0]
    C = W.shape[1]
    scores = np.matmul(X, W)
    scores = scores - np.max(scores, axis=1)[:, None]
    exp_s = np.exp(scores)
    p = exp_s / np.sum(exp_s, axis=1)[:, None]
    Y = np.zeros((N, C))
    Y[np.arange(N), y] = 1
    loss = -np.mean(np.log(p[Y == 1])) + reg * np.sum(np.square(W))
    dW = np.matmul(X.T, p - Y) / N + 2 * reg * W
    return loss, dW
