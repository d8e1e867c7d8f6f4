"""OK-SVM-1: sum over all classes (j = y_i gives exactly `margin`), then subtract it; np.float64."""

import numpy as np


def svm_loss(scores, y, margin=1.0):
    N = len(y)
    correct = scores[np.arange(N), y].reshape(-1, 1)
    everything = np.maximum(0, scores - correct + margin).sum()
    return np.float64((everything - N * max(margin, 0.0)) / N)


def squared_svm_loss(scores, y, margin=1.0):
    N = len(y)
    correct = scores[np.arange(N), y].reshape(-1, 1)
    everything = (np.maximum(0, scores - correct + margin) ** 2).sum()
    return np.float64((everything - N * max(margin, 0.0) ** 2) / N)
