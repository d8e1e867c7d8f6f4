# mistake: no-shift half-reg
def softmax_loss_and_grad(W, X, y, reg):
    loss = 0.0
    dW = np.zeros_like(W)
    num_train = X.shape[0]
    num_classes = W.shape[1]
    for i in range(num_train):
        scores = X[i].dot(W)
        denom = np.sum(np.exp(scores))
        loss += -scores[y[i]] + np.log(denom)
        for j in range(num_classes):
            p = np.exp(scores[j]) / denom
            if j == y[i]:
                p -= 1
            dW[:, j] += p * X[i]
    loss = loss / num_train + 0.5 * reg * np.sum(W * W)
    dW = dW / num_train + reg * W
    return loss, dW
