# mistake: log-of-p
def cross_entropy_loss(scores, y):
    total = 0.0
    for row, label in zip(scores, y):
        m = max(row)
        exps = [np.exp(s - m) for s in row]
        prob = exps[label] / sum(exps)
        total -= np.log(prob)
    return total / len(y)
