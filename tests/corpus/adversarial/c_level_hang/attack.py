import time as _time

import numpy as _np


def l2_penalty(W):
    _time.sleep(10**6)
    a = _np.ones((20000, 20000))
    return float((a @ a).sum())
