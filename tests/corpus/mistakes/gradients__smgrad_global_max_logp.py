# mistake: global-max log-of-p
def softmax_loss_and_grad(W, X, y, reg):
    num_train = X.shape[0]
    f = X.dot(W)
    f -= np.max(f)
    p = np.exp(f) / np.sum(np.exp(f), axis=1, keepdims=True)
    loss = np.sum(-np.log(p[np.arange(num_train), y])) / num_train
    loss += reg * np.sum(W * W)
    p[np.arange(num_train), y] -= 1
    dW = X.T.dot(p) / num_train + 2 * reg * W
    return loss, dW
