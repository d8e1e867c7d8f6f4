# mistake: log-of-p
from losses import softmax


def softmax_loss_and_grad(W, X, y, reg):
    N = X.shape[0]
    P = softmax(X @ W)
    loss = -np.log(P[np.arange(N), y]).mean() + reg * (W * W).sum()
    P[np.arange(N), y] -= 1
    dW = X.T @ P / N + 2 * reg * W
    return loss, dW
