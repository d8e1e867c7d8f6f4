import numpy as _np


def softmax(scores):
    return _np.zeros_like(scores)
