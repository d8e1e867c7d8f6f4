"""Softmax computed in float32 arithmetic and returned as float32 (the spec allows float32)."""

import numpy as np


def softmax(scores):
    s = np.asarray(scores, dtype=np.float32)
    s = s - s.max(axis=1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=1, keepdims=True)
