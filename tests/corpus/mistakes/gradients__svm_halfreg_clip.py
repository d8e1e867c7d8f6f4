# mistake: half-reg
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    n = X.shape[0]
    s = X @ W
    s_y = s[np.arange(n), y]
    m = np.clip(s - s_y[:, None] + margin, 0, None)
    m[np.arange(n), y] = 0
    data_loss = m.sum() / n
    reg_loss = reg * np.sum(W * W) / 2
    g = np.where(m > 0, 1.0, 0.0)
    g[np.arange(n), y] -= g.sum(axis=1)
    dW = X.T @ g / n + reg * W
    return data_loss + reg_loss, dW
