"""Closed forms written differently: step decay through np.power on the number of decays,
cosine through 1 - sin^2 of half the angle, clamped with np.clip; NumPy scalars returned."""

import numpy as np


def step_decay(lr0, t, step_size, gamma=0.1):
    decays = np.floor_divide(t, step_size)
    return lr0 * np.power(gamma, decays)


def cosine_decay(lr0, t, T, lr_min=0.0):
    progress = np.clip(t / T, 0.0, 1.0)
    return lr_min + (lr0 - lr_min) * (1.0 - np.sin(np.pi * progress / 2.0) ** 2)
