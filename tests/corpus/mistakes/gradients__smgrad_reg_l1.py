# mistake: reg-wrong
def softmax_loss_and_grad(W, X, y, reg):
    N = len(y)
    S = X.dot(W)
    S -= S.max(axis=1)[:, np.newaxis]
    log_Z = np.log(np.exp(S).sum(axis=1))
    loss = (log_Z - S[np.arange(N), y]).mean() + reg * np.sum(np.abs(W))
    G = np.exp(S - log_Z[:, np.newaxis])
    G[np.arange(N), y] -= 1
    dW = X.T.dot(G) / N + 2 * reg * W
    return loss, dW
