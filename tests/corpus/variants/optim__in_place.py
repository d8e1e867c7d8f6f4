"""OK-MOM-2: the step functions update w, v and m in place and return them (CS231n, PyTorch)."""

import numpy as np


def sgd_step(w, dw, lr):
    w -= lr * dw
    return w


def sgd_momentum_step(w, dw, v, lr, rho=0.9):
    v *= rho
    v += dw
    w -= lr * v
    return w, v


def adam_step(w, dw, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m *= beta1
    m += (1 - beta1) * dw
    v *= beta2
    v += (1 - beta2) * np.square(dw)
    step = lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
    w -= step
    return w, m, v
