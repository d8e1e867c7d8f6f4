# mistake: half-reg
def softmax_loss_and_grad(W, X, y, reg):
    num_examples = X.shape[0]
    loss = 0.0
    grad = np.zeros(W.shape)
    for k in range(num_examples):
        logits = X[k].dot(W)
        log_norm = np.logaddexp.reduce(logits)
        loss += log_norm - logits[y[k]]
        prob = np.exp(logits - log_norm)
        prob[y[k]] -= 1.0
        grad += X[k][:, None] * prob[None, :]
    loss = loss / num_examples + 0.5 * reg * np.sum(W * W)
    grad = grad / num_examples + reg * W
    return loss, grad
