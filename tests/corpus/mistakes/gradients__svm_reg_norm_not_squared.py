# mistake: reg-wrong
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    loss = 0.0
    dW = np.zeros(W.shape)
    num_train = X.shape[0]
    for i in range(num_train):
        scores = X[i].dot(W)
        for j in range(W.shape[1]):
            if j == y[i]:
                continue
            margin_ij = scores[j] - scores[y[i]] + margin
            if margin_ij > 0:
                loss += margin_ij
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss = loss / num_train + reg * np.linalg.norm(W)
    dW = dW / num_train + 2 * reg * W
    return loss, dW
