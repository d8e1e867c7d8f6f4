# mistake: grad-not-averaged
def softmax_loss_and_grad(W, X, y, reg):
    loss = 0.0
    dW = np.zeros_like(W)
    num_train = X.shape[0]
    for i in range(num_train):
        scores = X[i].dot(W)
        scores -= np.max(scores)
        log_norm = np.log(np.sum(np.exp(scores)))
        loss += log_norm - scores[y[i]]
        probs = np.exp(scores - log_norm)
        probs[y[i]] -= 1
        dW += np.outer(X[i], probs)
    loss = loss / num_train + reg * np.sum(W * W)
    dW += 2 * reg * W
    return loss, dW
