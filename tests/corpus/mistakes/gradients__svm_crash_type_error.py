# mistake: crash
# shows: TypeError
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    num_train, dim = X.shape
    num_classes = W.shape[1]
    scores = X.dot(W)
    correct = scores[np.arange(num_train), y].reshape(num_train, 1)
    margins = np.maximum(0, scores - correct + margin)
    margins[np.arange(num_train), y] = 0
    loss = np.sum(margins) / num_train + reg * np.sum(W * W)
    coeff = np.zeros(num_train, num_classes)
    coeff[margins > 0] = 1
    coeff[np.arange(num_train), y] = -np.sum(coeff, axis=1)
    dW = X.T.dot(coeff) / num_train + 2 * reg * W
    return loss, dW
