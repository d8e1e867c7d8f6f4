# mistake: kink-active
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    N = X.shape[0]
    S = X @ W
    diffs = S - S[np.arange(N), y][:, None] + margin
    diffs[np.arange(N), y] = -np.inf
    loss = np.sum(np.maximum(0, diffs)) / N + reg * np.sum(W * W)
    active = (diffs >= 0).astype(float)
    active[np.arange(N), y] = -active.sum(axis=1)
    dW = X.T @ active / N + 2 * reg * W
    return loss, dW
