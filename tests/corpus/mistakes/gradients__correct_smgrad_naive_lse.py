# mistake: correct
def softmax_loss_and_grad(W, X, y, reg):
    loss = 0.0
    dW = np.zeros_like(W)
    num_train, num_classes = X.shape[0], W.shape[1]
    for i in range(num_train):
        f = X[i].dot(W)
        f = f - np.max(f)
        log_denominator = np.log(np.sum(np.exp(f)))
        loss += log_denominator - f[y[i]]
        for j in range(num_classes):
            p = np.exp(f[j] - log_denominator)
            dW[:, j] += (p - (j == y[i])) * X[i]
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    return loss, dW
