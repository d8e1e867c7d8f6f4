# mistake: kink-active
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    N = X.shape[0]
    scores = X.dot(W)
    correct = scores[np.arange(N), y][:, None]
    margins = scores - correct + margin
    margins[np.arange(N), y] = -1.0
    loss = np.maximum(margins, 0).sum() / N + reg * np.sum(W * W)
    step = np.heaviside(margins, 1.0)
    step[np.arange(N), y] = -step.sum(axis=1)
    dW = X.T.dot(step) / N + 2 * reg * W
    return loss, dW
