# mistake: log-of-p half-reg
def softmax_loss_and_grad(W, X, y, reg):
    loss = 0.0
    dW = np.zeros_like(W)
    num_train = X.shape[0]
    num_classes = W.shape[1]
    for i in range(num_train):
        scores = X[i].dot(W)
        scores -= scores.max()
        exp_scores = np.exp(scores)
        total = np.sum(exp_scores)
        loss += -np.log(exp_scores[y[i]] / total)
        for c in range(num_classes):
            dW[:, c] += X[i] * exp_scores[c] / total
        dW[:, y[i]] -= X[i]
    loss = loss / num_train
    dW = dW / num_train
    loss += 0.5 * reg * np.sum(W * W)
    dW += reg * W
    return loss, dW
