# mistake: svm-reg-grad
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    num_train = X.shape[0]
    scores = X.dot(W)
    correct_scores = np.choose(y, scores.T).reshape(-1, 1)
    margins = np.maximum(scores - correct_scores + margin, 0.0)
    margins[np.arange(num_train), y] = 0.0
    loss = np.sum(margins) / num_train + reg * np.sum(W * W)
    counts = np.where(margins > 0, 1.0, 0.0)
    counts[np.arange(num_train), y] = -counts.sum(axis=1)
    dW = X.T.dot(counts)
    dW += 2 * reg * W
    dW /= num_train
    return loss, dW
