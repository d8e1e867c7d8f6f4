# mistake: crash
# shows: TypeError
def softmax_loss_and_grad(W, X, y, reg):
    N = X.shape[0]
    scores = X.dot(W)
    scores -= np.max(scores, axis=1, keepdims=True)
    log_probs = scores - np.log(np.sum(np.exp(scores), axis=1, keepdims=True))
    loss = -np.sum(log_probs[np.arange(N), y]) / N + reg * np.sum(W * W)
    dscores = np.exp(log_probs)
    dscores[np.arange(N), y] -= 1
    dW = np.zeros(W.shape[0], W.shape[1])
    dW += X.T.dot(dscores) / N + 2 * reg * W
    return loss, dW
