# mistake: log-of-p
def cross_entropy_loss(scores, y):
    stable = scores - np.amax(scores, axis=1)[:, np.newaxis]
    exps = np.exp(stable)
    softmax_out = exps / np.sum(exps, axis=1)[:, np.newaxis]
    picked = np.choose(y, softmax_out.T)
    return float(np.mean(-np.log(picked)))
