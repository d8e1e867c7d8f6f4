# mistake: global-max
def softmax_loss_and_grad(W, X, y, reg):
    N = X.shape[0]
    f = X.dot(W)
    f -= np.max(f)
    log_sum = np.log(np.sum(np.exp(f), axis=1))
    loss = np.mean(log_sum - f[np.arange(N), y]) + reg * np.sum(W * W)
    p = np.exp(f - log_sum[:, None])
    p[np.arange(N), y] -= 1
    return loss, X.T.dot(p) / N + 2 * reg * W
