# mistake: global-max
def softmax(scores):
    shifted = scores - scores.max()
    exp_scores = np.exp(shifted)
    return exp_scores / exp_scores.sum(axis=1, keepdims=True)
