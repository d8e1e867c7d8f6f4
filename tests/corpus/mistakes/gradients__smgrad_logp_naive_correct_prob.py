# mistake: log-of-p
def softmax_loss_and_grad(W, X, y, reg):
    loss = 0.0
    dW = np.zeros_like(W)
    N = X.shape[0]
    for i in range(N):
        s = X[i].dot(W)
        s = s - s.max()
        exp_sum = np.sum(np.exp(s))
        correct_prob = np.exp(s[y[i]]) / exp_sum
        loss += -np.log(correct_prob)
        dW += np.outer(X[i], np.exp(s) / exp_sum)
        dW[:, y[i]] -= X[i]
    loss = loss / N + reg * np.sum(W * W)
    dW = dW / N + reg * 2 * W
    return loss, dW
