# mistake: reg-wrong
def softmax_loss_and_grad(W, X, y, reg):
    num_train = X.shape[0]
    scores = X @ W
    scores = scores - np.max(scores, axis=1, keepdims=True)
    lse = np.log(np.sum(np.exp(scores), axis=1))
    loss = np.sum(lse - scores[np.arange(num_train), y]) / num_train
    loss += reg * np.sum(W.dot(W.T))
    p = np.exp(scores - lse[:, np.newaxis])
    p[np.arange(num_train), y] -= 1
    dW = X.T @ p / num_train + 2 * reg * W
    return loss, dW
