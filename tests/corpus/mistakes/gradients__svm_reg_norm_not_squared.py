# mistake: reg-wrong
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    N = X.shape[0]
    S = X @ W
    loss = 0.0
    dS = np.zeros_like(S)
    for i in range(N):
        for j in range(S.shape[1]):
            if j != y[i]:
                gap = S[i, j] - S[i, y[i]] + margin
                if gap > 0:
                    loss += gap
                    dS[i, j] += 1
                    dS[i, y[i]] -= 1
    loss = loss / N + reg * np.linalg.norm(W)
    dW = X.T @ dS / N + 2 * reg * W
    return loss, dW
