# mistake: reg-wrong
def softmax_loss_and_grad(W, X, y, reg):
    N = X.shape[0]
    s = np.dot(X, W)
    s -= np.max(s, axis=1)[:, None]
    logZ = np.log(np.sum(np.exp(s), axis=1))
    loss = np.mean(logZ - s[np.arange(N), y]) + reg * np.sum(W * W)
    P = np.exp(s - logZ[:, None])
    P[np.arange(N), y] -= 1
    dW = np.dot(X.T, P) / N
    return loss, dW
