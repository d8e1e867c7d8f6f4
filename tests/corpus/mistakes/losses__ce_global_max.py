# mistake: global-max
def cross_entropy_loss(scores, y):
    N = scores.shape[0]
    f = scores - np.max(scores)
    log_norm = np.log(np.sum(np.exp(f), axis=1))
    return np.mean(log_norm - f[np.arange(N), y])
