# mistake: half-reg
def softmax_loss_and_grad(W, X, y, reg):
    num_train = X.shape[0]
    f = X @ W
    m = f.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(f - m).sum(axis=1, keepdims=True))
    loss = np.sum(lse[:, 0] - f[np.arange(num_train), y]) / num_train
    loss += reg * np.sum(W * W) / 2
    p = np.exp(f - lse)
    p[np.arange(num_train), y] -= 1
    dW = X.T @ p / num_train + reg * W
    return loss, dW
