# mistake: log-of-p half-reg
def softmax_loss_and_grad(W, X, y, reg):
    num_train = X.shape[0]
    f = X.dot(W)
    f -= f.max(axis=1, keepdims=True)
    exp_f = np.exp(f)
    probabilities = exp_f / exp_f.sum(axis=1, keepdims=True)
    correct_class_probabilities = probabilities[range(num_train), y]
    loss = np.sum(-np.log(correct_class_probabilities)) / num_train
    loss += 0.5 * reg * np.sum(np.sum(W ** 2))
    probabilities[range(num_train), y] -= 1
    dW = X.T.dot(probabilities) / num_train
    dW += reg * W
    return loss, dW
