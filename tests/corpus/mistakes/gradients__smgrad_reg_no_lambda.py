# mistake: reg-wrong
def softmax_loss_and_grad(W, X, y, reg):
    loss = 0.0
    dW = np.zeros_like(W)
    N = X.shape[0]
    for i in range(N):
        f = X[i].dot(W)
        f -= np.max(f)
        lse = np.log(np.sum(np.exp(f)))
        loss += lse - f[y[i]]
        p = np.exp(f - lse)
        p[y[i]] -= 1
        dW += np.outer(X[i], p)
    loss = loss / N + np.sum(W * W)
    dW = dW / N + 2 * reg * W
    return loss, dW
