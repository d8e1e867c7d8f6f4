"""Plain Python loops over rows with math.exp/math.log (log-sum-exp by hand); Python floats."""

import math

import numpy as np


def softmax(scores):
    out = np.empty(np.shape(scores))
    for i, row in enumerate(scores):
        top = max(row)
        exps = [math.exp(s - top) for s in row]
        total = sum(exps)
        out[i] = [e / total for e in exps]
    return out


def cross_entropy_loss(scores, y):
    total = 0.0
    for row, label in zip(scores, y):
        top = max(row)
        log_sum = top + math.log(sum(math.exp(s - top) for s in row))
        total += log_sum - row[label]
    return total / len(y)


def svm_loss(scores, y, margin=1.0):
    total = 0.0
    for row, label in zip(scores, y):
        for j, s in enumerate(row):
            if j != label:
                total += max(0.0, s - row[label] + margin)
    return total / len(y)


def squared_svm_loss(scores, y, margin=1.0):
    total = 0.0
    for row, label in zip(scores, y):
        for j, s in enumerate(row):
            if j != label:
                total += max(0.0, s - row[label] + margin) ** 2
    return total / len(y)
