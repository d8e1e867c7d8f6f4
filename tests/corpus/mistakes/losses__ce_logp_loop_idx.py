# mistake: log-of-p
def cross_entropy_loss(scores, y):
    N, C = scores.shape
    losses = np.zeros(N)
    for i in range(N):
        shifted = scores[i] - np.max(scores[i])
        denominator = 0.0
        for j in range(C):
            denominator += np.exp(shifted[j])
        losses[i] = -np.log(np.exp(shifted[y[i]]) / denominator)
    return np.mean(losses)
