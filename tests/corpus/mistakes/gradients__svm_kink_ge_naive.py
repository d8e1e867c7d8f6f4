# mistake: kink-active
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    dW = np.zeros(W.shape)
    loss = 0.0
    num_train = X.shape[0]
    for i in range(num_train):
        scores = X[i].dot(W)
        correct_class_score = scores[y[i]]
        for j in range(W.shape[1]):
            if j == y[i]:
                continue
            diff = scores[j] - correct_class_score + margin
            loss += max(0, diff)
            if diff >= 0:
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    return loss, dW
