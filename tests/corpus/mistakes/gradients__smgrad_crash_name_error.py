# mistake: crash
# shows: NameError
def softmax_loss_and_grad(W, X, y, reg):
    num_train = X.shape[0]
    scores = X.dot(W)
    scores -= np.max(scores, axis=1, keepdims=True)
    log_probs = scores - np.log(np.sum(np.exp(scores), axis=1, keepdims=True))
    loss = -np.sum(log_probs[range(num_trian), y]) / num_train + reg * np.sum(W * W)
    dS = np.exp(log_probs)
    dS[range(num_train), y] -= 1
    dW = X.T.dot(dS) / num_train + 2 * reg * W
    return loss, dW
