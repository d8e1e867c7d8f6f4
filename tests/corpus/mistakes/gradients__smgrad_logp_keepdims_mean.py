# mistake: log-of-p
def softmax_loss_and_grad(W, X, y, reg):
    n = len(y)
    logits = X.dot(W)
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    probs = e / e.sum(axis=1, keepdims=True)
    data_loss = np.mean(-np.log(probs[np.arange(n), y]))
    reg_loss = reg * np.sum(W * W)
    grad = probs
    grad[np.arange(n), y] -= 1
    grad /= n
    dW = X.T.dot(grad) + 2 * reg * W
    return data_loss + reg_loss, dW
