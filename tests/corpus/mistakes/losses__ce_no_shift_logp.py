# mistake: no-shift log-of-p
def cross_entropy_loss(scores, y):
    n = scores.shape[0]
    numer = np.exp(scores[np.arange(n), y])
    denom = np.exp(scores).sum(axis=1)
    return np.mean(-np.log(numer / denom))
