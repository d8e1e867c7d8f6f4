# mistake: half-reg
def softmax_loss_and_grad(W, X, y, reg):
    N = X.shape[0]
    scores = X.dot(W)
    scores -= np.max(scores, axis=1, keepdims=True)
    log_z = np.log(np.sum(np.exp(scores), axis=1, keepdims=True))
    log_probs = scores - log_z
    loss = -np.mean(log_probs[np.arange(N), y]) + 0.5 * reg * np.sum(W * W)
    dscores = np.exp(log_probs)
    dscores[np.arange(N), y] -= 1
    dW = X.T.dot(dscores) / N + reg * W
    return loss, dW
