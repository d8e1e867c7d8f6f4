# mistake: reg-wrong
def softmax_loss_and_grad(W, X, y, reg):
    N = X.shape[0]
    scores = X.dot(W)
    scores -= scores.max(axis=1, keepdims=True)
    log_probs = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(N), y].mean()
    dscores = np.exp(log_probs)
    dscores[np.arange(N), y] -= 1
    dW = X.T.dot(dscores) / N + 2 * reg * W
    return loss, dW
