# mistake: half-reg
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    loss = 0.0
    dW = np.zeros_like(W)
    N = X.shape[0]
    C = W.shape[1]
    for i in range(N):
        s = X[i] @ W
        count = 0
        for j in range(C):
            if j != y[i]:
                d = s[j] - s[y[i]] + margin
                if d > 0:
                    loss += d
                    count += 1
                    dW[:, j] += X[i]
        dW[:, y[i]] -= count * X[i]
    loss = loss / N + 0.5 * reg * np.sum(W * W)
    dW = dW / N + reg * W
    return loss, dW
