# mistake: log-of-p
def softmax_loss_and_grad(W, X, y, reg):
    loss = 0.0
    dW = np.zeros_like(W)
    num_train = X.shape[0]
    for i in range(num_train):
        x_i = X[i]
        s = x_i @ W
        s = s - s.max()
        softmax_i = np.exp(s) / np.exp(s).sum()
        loss -= np.log(softmax_i[y[i]])
        target = np.zeros(W.shape[1])
        target[y[i]] = 1.0
        dW += np.outer(x_i, softmax_i - target)
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    return loss, dW
