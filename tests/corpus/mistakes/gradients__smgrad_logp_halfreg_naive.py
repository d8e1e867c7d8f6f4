# mistake: log-of-p half-reg
def softmax_loss_and_grad(W, X, y, reg):
    loss = 0.0
    dW = np.zeros_like(W)
    num_classes = W.shape[1]
    num_train = X.shape[0]
    for i in range(num_train):
        scores = X[i].dot(W)
        shift_scores = scores - np.max(scores)
        softmax_out = np.exp(shift_scores) / np.sum(np.exp(shift_scores))
        loss += -np.log(softmax_out[y[i]])
        for j in range(num_classes):
            if j == y[i]:
                dW[:, j] += (softmax_out[j] - 1) * X[i]
            else:
                dW[:, j] += softmax_out[j] * X[i]
    loss /= num_train
    loss += 0.5 * reg * np.sum(W * W)
    dW = dW / num_train + reg * W
    return loss, dW
