"""float32 arithmetic throughout; the loss as np.float32 and dW as a float32 array."""

import numpy as np


def softmax_loss_and_grad(W, X, y, reg):
    W32, X32, reg32 = W.astype(np.float32), X.astype(np.float32), np.float32(reg)
    N = X32.shape[0]
    scores = X32 @ W32
    scores -= scores.max(axis=1, keepdims=True)
    log_probs = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(N), y].mean() + reg32 * np.sum(W32 * W32)
    dscores = np.exp(log_probs)
    dscores[np.arange(N), y] -= 1
    dW = X32.T @ (dscores / N) + 2 * reg32 * W32
    return np.float32(loss), dW.astype(np.float32)


def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    W32, X32, reg32 = W.astype(np.float32), X.astype(np.float32), np.float32(reg)
    N = X32.shape[0]
    rows = np.arange(N)
    scores = X32 @ W32
    margins = np.maximum(np.float32(0), scores - scores[rows, y][:, None] + np.float32(margin))
    margins[rows, y] = 0
    loss = margins.sum() / N + reg32 * np.sum(W32 * W32)
    active = (margins > 0).astype(np.float32)
    active[rows, y] = -active.sum(axis=1)
    dW = X32.T @ active / N + 2 * reg32 * W32
    return np.float32(loss), dW.astype(np.float32)
