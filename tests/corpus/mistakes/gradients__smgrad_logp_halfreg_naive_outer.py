# mistake: log-of-p half-reg
def softmax_loss_and_grad(W, X, y, reg):
    N = X.shape[0]
    loss = 0.0
    dW = np.zeros(W.shape)
    for i in range(N):
        f = X[i].dot(W)
        f -= np.max(f)
        p = np.exp(f) / np.sum(np.exp(f))
        loss -= np.log(p[y[i]])
        p[y[i]] -= 1
        dW += np.outer(X[i], p)
    loss = loss / N + 0.5 * reg * np.sum(W ** 2)
    dW = dW / N + reg * W
    return loss, dW
