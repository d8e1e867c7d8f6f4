# mistake: svm-reg-grad
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    n_samples = X.shape[0]
    n_classes = W.shape[1]
    total = 0.0
    grad = np.zeros_like(W)
    for n in range(n_samples):
        s = np.dot(X[n], W)
        violations = 0
        for c in range(n_classes):
            if c != y[n] and s[c] - s[y[n]] + margin > 0:
                total += s[c] - s[y[n]] + margin
                grad[:, c] += X[n]
                violations += 1
        grad[:, y[n]] -= violations * X[n]
    loss = total / n_samples + reg * np.sum(W * W)
    grad = grad / n_samples + reg * W
    return loss, grad
