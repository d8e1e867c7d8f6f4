# mistake: correct
def cross_entropy_loss(scores, y):
    loss = 0.0
    for i in range(scores.shape[0]):
        row = scores[i]
        m = np.max(row)
        log_z = m + np.log(np.sum(np.exp(row - m)))
        loss += log_z - row[y[i]]
    return loss / scores.shape[0]
