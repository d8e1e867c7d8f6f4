import numpy as _np

_CALLS = [0]


def softmax(scores):
    _CALLS[0] += 1
    if _CALLS[0] == 1:
        return _np.ones(25 * 2**20)
    return _np.ones(2**29)
