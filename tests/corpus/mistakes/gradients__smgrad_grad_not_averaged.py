# mistake: grad-not-averaged
def softmax_loss_and_grad(W, X, y, reg):
    N = X.shape[0]
    scores = X.dot(W)
    scores = scores - np.max(scores, axis=1, keepdims=True)
    log_z = np.log(np.sum(np.exp(scores), axis=1, keepdims=True))
    loss = np.mean(log_z[:, 0] - scores[np.arange(N), y]) + reg * np.sum(W * W)
    probs = np.exp(scores - log_z)
    probs[np.arange(N), y] -= 1
    dW = X.T.dot(probs) + 2 * reg * W
    return loss, dW
