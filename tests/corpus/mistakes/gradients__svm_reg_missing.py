# mistake: reg-wrong
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    N = X.shape[0]
    scores = X.dot(W)
    correct = scores[np.arange(N), y][:, np.newaxis]
    margins = np.maximum(0, scores - correct + margin)
    margins[np.arange(N), y] = 0
    loss = np.sum(margins) / N
    counts = (margins > 0).astype(float)
    counts[np.arange(N), y] = -np.sum(counts, axis=1)
    dW = X.T.dot(counts) / N
    return loss, dW
