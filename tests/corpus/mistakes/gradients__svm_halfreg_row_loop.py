# mistake: half-reg
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    num_train = X.shape[0]
    loss = 0.0
    dW = np.zeros_like(W)
    for i in range(num_train):
        s = X[i].dot(W)
        d = s - s[y[i]] + margin
        d[y[i]] = 0
        hinge = np.maximum(d, 0)
        loss += hinge.sum()
        ind = (hinge > 0).astype(float)
        ind[y[i]] = -ind.sum()
        dW += np.outer(X[i], ind)
    loss = loss / num_train + 0.5 * reg * np.sum(W * W)
    dW = dW / num_train + reg * W
    return loss, dW
