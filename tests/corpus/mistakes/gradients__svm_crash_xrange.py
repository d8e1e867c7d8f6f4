# mistake: crash
# shows: NameError
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    dW = np.zeros(W.shape)
    num_classes = W.shape[1]
    num_train = X.shape[0]
    loss = 0.0
    for i in xrange(num_train):
        scores = X[i].dot(W)
        for j in xrange(num_classes):
            if j != y[i] and scores[j] - scores[y[i]] + margin > 0:
                loss += scores[j] - scores[y[i]] + margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    return loss, dW
