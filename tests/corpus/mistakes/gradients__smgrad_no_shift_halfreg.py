# mistake: no-shift log-of-p half-reg
def softmax_loss_and_grad(W, X, y, reg):
    num_train = X.shape[0]
    scores = np.dot(X, W)
    exp_scores = np.exp(scores)
    prob_scores = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    correct_log_probs = -np.log(prob_scores[range(num_train), y])
    loss = np.sum(correct_log_probs) / num_train
    loss += 0.5 * reg * np.sum(np.sum(W ** 2))
    dscores = prob_scores
    dscores[range(num_train), y] -= 1
    dW = np.dot(X.T, dscores) / num_train
    dW += reg * W
    return loss, dW
