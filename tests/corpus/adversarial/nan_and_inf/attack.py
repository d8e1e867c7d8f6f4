import numpy as _np

_CALLS = [0]


def softmax(scores):
    _CALLS[0] += 1
    return _np.full(scores.shape, _np.nan if _CALLS[0] % 2 else _np.inf)
