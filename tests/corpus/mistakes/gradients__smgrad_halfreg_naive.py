# mistake: half-reg
def softmax_loss_and_grad(W, X, y, reg):
    loss = 0.0
    dW = np.zeros_like(W)
    num_train = X.shape[0]
    num_classes = W.shape[1]
    for i in range(num_train):
        scores = X[i].dot(W)
        scores -= np.max(scores)
        sum_exp = np.sum(np.exp(scores))
        loss += np.log(sum_exp) - scores[y[i]]
        for j in range(num_classes):
            p = np.exp(scores[j]) / sum_exp
            dW[:, j] += (p - (j == y[i])) * X[i]
    loss /= num_train
    dW /= num_train
    loss += 0.5 * reg * np.sum(W * W)
    dW += reg * W
    return loss, dW
