"""numeric_gradient perturbs copies (dlcourse style) over a flat index; relative_error by loops."""

import numpy as np


def numeric_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    flat = grad.reshape(-1)
    for k in range(x.size):
        plus = x.astype(float)
        minus = x.astype(float)
        plus.reshape(-1)[k] += h
        minus.reshape(-1)[k] -= h
        flat[k] = (f(plus) - f(minus)) / (2 * h)
    return grad


def relative_error(a, b):
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    worst = 0.0
    for ai, bi in zip(a, b):
        denominator = abs(ai) + abs(bi)
        if denominator < 1e-8:
            denominator = 1e-8
        worst = max(worst, abs(ai - bi) / denominator)
    return worst


def gradient_check(f, grad_f, x, h=1e-5, tol=1e-6):
    numeric = numeric_gradient(f, x, h)
    analytic = grad_f(x)
    error = relative_error(analytic, numeric)
    if error < tol:
        return True, error
    return False, error
