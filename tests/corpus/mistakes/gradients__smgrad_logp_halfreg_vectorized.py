# mistake: log-of-p half-reg
def softmax_loss_and_grad(W, X, y, reg):
    num_train = X.shape[0]
    scores = X.dot(W)
    scores -= np.max(scores, axis=1, keepdims=True)
    prob_scores = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
    correct_log_probs = -np.log(prob_scores[range(num_train), y])
    loss = np.sum(correct_log_probs) / num_train
    loss += 0.5 * reg * np.sum(W * W)
    dscores = prob_scores
    dscores[range(num_train), y] -= 1
    dW = np.dot(X.T, dscores) / num_train
    dW += reg * W
    return loss, dW
