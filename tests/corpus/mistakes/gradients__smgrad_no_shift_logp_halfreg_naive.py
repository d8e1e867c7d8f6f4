# mistake: no-shift log-of-p half-reg
def softmax_loss_and_grad(W, X, y, reg):
    loss = 0.0
    dW = np.zeros_like(W)
    num_train = X.shape[0]
    for i in range(num_train):
        f = np.exp(X[i].dot(W))
        p = f / f.sum()
        loss += -np.log(p[y[i]])
        p[y[i]] -= 1
        for j in range(W.shape[1]):
            dW[:, j] += p[j] * X[i]
    loss = loss / num_train + 0.5 * reg * np.sum(W * W)
    dW = dW / num_train + reg * W
    return loss, dW
