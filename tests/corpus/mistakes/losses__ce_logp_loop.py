# mistake: log-of-p
def cross_entropy_loss(scores, y):
    num_train = scores.shape[0]
    loss = 0.0
    for i in range(num_train):
        f = scores[i] - np.max(scores[i])
        p = np.exp(f) / np.sum(np.exp(f))
        loss += -np.log(p[y[i]])
    loss /= num_train
    return loss
