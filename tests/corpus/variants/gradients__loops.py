"""CS231n's naive versions: explicit loops over examples and classes; the loss as np.float64."""

import numpy as np


def softmax_loss_and_grad(W, X, y, reg):
    N, C = X.shape[0], W.shape[1]
    loss = np.float64(0.0)
    dW = np.zeros_like(W)
    for i in range(N):
        s = X[i].dot(W)
        s = s - s.max()
        p = np.exp(s) / np.sum(np.exp(s))
        loss += -(s[y[i]] - np.log(np.sum(np.exp(s))))
        for j in range(C):
            dW[:, j] += (p[j] - (j == y[i])) * X[i]
    loss = loss / N + reg * np.sum(W * W)
    dW = dW / N + 2 * reg * W
    return loss, dW


def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    N, C = X.shape[0], W.shape[1]
    loss = 0.0
    dW = np.zeros(W.shape)
    for i in range(N):
        s = X[i].dot(W)
        for j in range(C):
            if j == y[i]:
                continue
            m = s[j] - s[y[i]] + margin
            if m > 0:
                loss += m
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss /= N
    dW /= N
    loss += reg * np.sum(W * W)
    dW += 2 * reg * W
    return np.float64(loss), dW
