# mistake: log-of-p half-reg
def softmax_loss_and_grad(W, X, y, reg):
    loss = 0.0
    dW = np.zeros_like(W)
    num_train = X.shape[0]
    for i in range(num_train):
        f_i = X[i].dot(W)
        f_i -= np.max(f_i)
        p_i = np.exp(f_i) / np.sum(np.exp(f_i))
        loss += -np.log(p_i[y[i]])
        one_hot = np.zeros_like(p_i)
        one_hot[y[i]] = 1
        dW += X[i][:, np.newaxis] * (p_i - one_hot)[np.newaxis, :]
    loss /= num_train
    dW /= num_train
    loss += 0.5 * reg * np.sum(W * W)
    dW += reg * W
    return loss, dW
