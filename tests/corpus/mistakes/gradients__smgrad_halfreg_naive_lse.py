# mistake: half-reg
def softmax_loss_and_grad(W, X, y, reg):
    N = X.shape[0]
    loss = 0.0
    dW = np.zeros(W.shape)
    for i in range(N):
        f = X[i] @ W
        f = f - np.max(f)
        log_sum = np.log(np.sum(np.exp(f)))
        loss += log_sum - f[y[i]]
        p = np.exp(f - log_sum)
        p[y[i]] -= 1
        dW += np.outer(X[i], p)
    loss = loss / N + 0.5 * reg * np.sum(W * W)
    dW = dW / N + reg * W
    return loss, dW
