# mistake: global-max
def softmax_loss_and_grad(W, X, y, reg):
    num_train = X.shape[0]
    logits = np.dot(X, W)
    logits -= logits.max()  # for numeric stability
    norm = np.log(np.exp(logits).sum(axis=1, keepdims=True))
    log_softmax = logits - norm
    loss = -log_softmax[range(num_train), y].sum() / num_train
    loss += reg * (W ** 2).sum()
    grad_logits = np.exp(log_softmax)
    grad_logits[range(num_train), y] -= 1
    dW = np.dot(X.T, grad_logits) / num_train + 2 * reg * W
    return loss, dW
