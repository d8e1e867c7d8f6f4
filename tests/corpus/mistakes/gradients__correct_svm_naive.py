# mistake: correct
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    dW = np.zeros(W.shape)
    loss = 0.0
    num_train, num_classes = X.shape[0], W.shape[1]
    for i in range(num_train):
        scores = X[i].dot(W)
        for j in range(num_classes):
            if j == y[i]:
                continue
            m = scores[j] - scores[y[i]] + margin
            if m > 0:
                loss += m
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    return loss, dW
