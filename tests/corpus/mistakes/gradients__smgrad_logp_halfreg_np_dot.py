# mistake: log-of-p half-reg
def softmax_loss_and_grad(W, X, y, reg):
    num_train = X.shape[0]
    scores = np.dot(X, W)
    scores -= np.max(scores, axis=1)[:, np.newaxis]
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1)[:, np.newaxis]
    loss = np.mean(-np.log(probs[np.arange(num_train), y])) + 0.5 * reg * np.sum(W * W)
    probs[np.arange(num_train), y] -= 1
    dW = np.dot(X.T, probs) / num_train + reg * W
    return loss, dW
