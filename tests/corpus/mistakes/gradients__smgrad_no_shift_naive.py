# mistake: no-shift log-of-p
def softmax_loss_and_grad(W, X, y, reg):
    loss = 0.0
    dW = np.zeros_like(W)
    num_train = X.shape[0]
    num_classes = W.shape[1]
    for i in range(num_train):
        scores = X[i].dot(W)
        exp_scores = np.exp(scores)
        norm = np.sum(exp_scores)
        loss += -np.log(exp_scores[y[i]] / norm)
        for j in range(num_classes):
            dW[:, j] += exp_scores[j] / norm * X[i]
        dW[:, y[i]] -= X[i]
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    return loss, dW
