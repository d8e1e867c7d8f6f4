# mistake: log-of-p
def softmax_loss_and_grad(W, X, y, reg):
    N = X.shape[0]
    f = X @ W
    f = f - f.max(axis=1).reshape(N, 1)
    softmax_output = np.exp(f) / np.exp(f).sum(axis=1).reshape(N, 1)
    loss = -np.sum(np.log(softmax_output[range(N), list(y)]))
    loss = loss / N + reg * np.sum(W ** 2)
    dS = softmax_output.copy()
    dS[range(N), list(y)] += -1
    dW = X.T @ dS / N + 2 * reg * W
    return loss, dW
