"""OK-STEP-1 and OK-COS-1: step decay as a loop of lr *= gamma; cosine through cos^2."""

import math


def step_decay(lr0, t, step_size, gamma=0.1):
    lr = lr0
    for _ in range(t // step_size):
        lr *= gamma
    return lr


def cosine_decay(lr0, t, T, lr_min=0.0):
    t = min(t, T)
    return lr_min + (lr0 - lr_min) * math.cos(math.pi * t / (2 * T)) ** 2
