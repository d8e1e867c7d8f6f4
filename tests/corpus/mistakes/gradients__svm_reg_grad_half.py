# mistake: svm-reg-grad
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    N = X.shape[0]
    scores = X.dot(W)
    correct = scores[range(N), y][:, np.newaxis]
    margins = np.maximum(0, scores - correct + margin)
    margins[range(N), y] = 0
    loss = margins.sum() / N + reg * np.sum(W * W)
    indicator = (margins > 0).astype(float)
    indicator[range(N), y] = -indicator.sum(axis=1)
    dW = X.T.dot(indicator) / N + 0.5 * reg * W
    return loss, dW
