# mistake: half-reg
def softmax_loss_and_grad(W, X, y, reg):
    N, C = X.shape[0], W.shape[1]
    Y = np.eye(C)[y]
    s = X.dot(W)
    s = s - s.max(axis=1, keepdims=True)
    log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    loss = -np.sum(Y * log_p) / N + 0.5 * reg * np.sum(W ** 2)
    dW = X.T.dot(np.exp(log_p) - Y) / N + reg * W
    return loss, dW
