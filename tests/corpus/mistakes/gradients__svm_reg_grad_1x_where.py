# mistake: svm-reg-grad
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    num_train = X.shape[0]
    S = X.dot(W)
    correct = S[np.arange(num_train), y]
    M = np.maximum(0.0, S - correct[:, np.newaxis] + margin)
    M[np.arange(num_train), y] = 0.0
    loss = M.sum() / num_train + reg * np.sum(np.square(W))
    B = (M > 0).astype(X.dtype)
    B[np.arange(num_train), y] = -B.sum(axis=1)
    dW = X.T.dot(B) / num_train
    dW += reg * W
    return loss, dW
