# mistake: global-max
def softmax_loss_and_grad(W, X, y, reg):
    num_train = X.shape[0]
    scores = X @ W
    scores = scores - np.max(scores)
    exp_scores = np.exp(scores)
    sums = np.sum(exp_scores, axis=1, keepdims=True)
    loss = np.sum(np.log(sums[:, 0]) - scores[np.arange(num_train), y]) / num_train
    loss += reg * np.sum(W * W)
    dscores = exp_scores / sums
    dscores[np.arange(num_train), y] -= 1
    dW = X.T @ dscores / num_train + 2 * reg * W
    return loss, dW
