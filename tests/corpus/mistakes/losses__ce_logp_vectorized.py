# mistake: log-of-p
def cross_entropy_loss(scores, y):
    N = scores.shape[0]
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    probs = np.exp(shifted) / np.sum(np.exp(shifted), axis=1, keepdims=True)
    correct_logprobs = -np.log(probs[np.arange(N), y])
    return np.sum(correct_logprobs) / N
