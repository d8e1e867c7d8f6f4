# mistake: svm-reg-grad
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    num_train = X.shape[0]
    scores = X @ W
    correct = scores[np.arange(num_train), y].reshape(-1, 1)
    margins = np.maximum(0, scores - correct + margin)
    margins[np.arange(num_train), y] = 0
    loss = np.sum(margins) / num_train + reg * np.sum(W * W)
    X_mask = np.zeros(margins.shape)
    X_mask[margins > 0] = 1
    X_mask[np.arange(num_train), y] = -np.sum(X_mask, axis=1)
    dW = X.T @ X_mask / num_train + reg * W
    return loss, dW
