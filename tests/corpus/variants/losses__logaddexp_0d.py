"""log-sum-exp via np.logaddexp.reduce; one-hot masks; losses returned as 0-d arrays; dtype kept."""

import numpy as np


def softmax(scores):
    lse = np.logaddexp.reduce(scores, axis=1, keepdims=True)
    return np.exp(scores - lse)


def cross_entropy_loss(scores, y):
    one_hot = np.eye(scores.shape[1], dtype=bool)[y]
    lse = np.logaddexp.reduce(scores, axis=1)
    return np.asarray(np.mean(lse - scores[one_hot]))


def svm_loss(scores, y, margin=1.0):
    one_hot = np.eye(scores.shape[1], dtype=bool)[y]
    correct = np.einsum("ij,ij->i", scores, one_hot.astype(scores.dtype))
    terms = np.where(one_hot, 0.0, np.maximum(0.0, scores - correct[:, None] + margin))
    return np.asarray(terms.sum(axis=1).mean(), dtype=scores.dtype)


def squared_svm_loss(scores, y, margin=1.0):
    one_hot = np.eye(scores.shape[1], dtype=bool)[y]
    correct = np.einsum("ij,ij->i", scores, one_hot.astype(scores.dtype))
    terms = np.where(one_hot, 0.0, np.maximum(0.0, scores - correct[:, None] + margin))
    return np.asarray((terms**2).sum(axis=1).mean(), dtype=scores.dtype)
