"""Adam as torch.optim.Adam computes it (step size lr / bias1, denominator sqrt(v) / sqrt(bias2)
+ eps), SGD with np.subtract, gradient descent collecting copies then np.stack, minibatch SGD
with a default schedule and the losses as a Python list."""

import math

import numpy as np


def sgd_step(w, dw, lr):
    return np.subtract(w, np.multiply(lr, dw))


def adam_step(w, dw, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw * dw
    bias1 = 1 - beta1**t
    bias2 = 1 - beta2**t
    denom = np.sqrt(v) / math.sqrt(bias2) + eps
    return w - (lr / bias1) * (m / denom), m, v


def gradient_descent(grad_fn, w0, lr, num_steps):
    w = np.array(w0, dtype=float)
    history = [w.copy()]
    for _ in range(num_steps):
        w = w - lr * np.asarray(grad_fn(w.copy()))
        history.append(w.copy())
    return np.stack(history)


def minibatch_sgd(loss_and_grad, W0, X, y, lr, batch_size, num_steps, seed=0, rho=0.0,
                  lr_schedule=None):
    schedule = lr_schedule if lr_schedule is not None else (lambda t: lr)
    rng = np.random.default_rng(seed)
    W, velocity = np.array(W0, dtype=float), np.zeros(np.shape(W0))
    losses = []
    for t in range(num_steps):
        idx = rng.choice(len(X), size=batch_size, replace=False)
        loss, dW = loss_and_grad(W, X[idx], y[idx])
        losses.append(float(loss))
        W, velocity = sgd_momentum_step(W, dW, velocity, schedule(t), rho)
    return W, losses
