# mistake: log-of-p
def softmax_loss_and_grad(W, X, y, reg):
    num_train, num_classes = X.shape[0], W.shape[1]
    loss = 0.0
    dW = np.zeros(W.shape)
    for i in range(num_train):
        f = X[i] @ W
        f_max = np.max(f)
        denom = 0.0
        for j in range(num_classes):
            denom += np.exp(f[j] - f_max)
        for j in range(num_classes):
            p = np.exp(f[j] - f_max) / denom
            if j == y[i]:
                loss -= np.log(p)
                dW[:, j] -= X[i]
            dW[:, j] += p * X[i]
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    return loss, dW
