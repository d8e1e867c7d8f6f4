# mistake: half-reg
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    N = X.shape[0]
    S = X @ W
    correct = S[np.arange(N), y][:, None]
    M = S - correct + margin
    M[np.arange(N), y] = 0
    M = np.maximum(M, 0)
    loss = M.sum() / N + 0.5 * reg * np.sum(W ** 2)
    mask = (M > 0).astype(float)
    mask[np.arange(N), y] = -mask.sum(axis=1)
    dW = X.T @ mask / N + reg * W
    return loss, dW
