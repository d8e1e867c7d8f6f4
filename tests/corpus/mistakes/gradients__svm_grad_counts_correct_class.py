# mistake: svm-grad-counts-yi
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    N = X.shape[0]
    scores = X.dot(W)
    correct = scores[np.arange(N), y][:, np.newaxis]
    margins = np.maximum(0, scores - correct + margin)
    # every row's correct class gives exactly `margin`: take it back out of the loss
    loss = (np.sum(margins) - N * margin) / N + reg * np.sum(W * W)
    mask = (margins > 0).astype(float)
    mask[np.arange(N), y] = -np.sum(mask, axis=1)
    dW = X.T.dot(mask) / N + 2 * reg * W
    return loss, dW
