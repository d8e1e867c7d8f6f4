# mistake: no-shift
def softmax_loss_and_grad(W, X, y, reg):
    N = X.shape[0]
    scores = X @ W
    log_sum_exp = np.log(np.sum(np.exp(scores), axis=1))
    loss = np.mean(log_sum_exp - scores[np.arange(N), y]) + reg * np.sum(W * W)
    p = np.exp(scores - log_sum_exp[:, None])
    p[np.arange(N), y] -= 1
    dW = X.T @ p / N + 2 * reg * W
    return loss, dW
