# mistake: global-max
def softmax(scores):
    s = scores - np.max(scores)
    probs = np.empty_like(s)
    for i, row in enumerate(s):
        ex = np.exp(row)
        probs[i] = ex / np.sum(ex)
    return probs
