"""OK-MOM-1's other form: v = rho*v - lr*dw; w = w + v. Preallocated iterates; velocity 0.0."""

import numpy as np


def sgd_momentum_step(w, dw, v, lr, rho=0.9):
    v = rho * v - lr * dw
    w = w + v
    return w, v


def gradient_descent(grad_fn, w0, lr, num_steps):
    out = np.empty((num_steps + 1,) + np.shape(w0))
    out[0] = w0
    for t in range(num_steps):
        out[t + 1] = out[t] - lr * grad_fn(out[t].copy())
    return out


def minibatch_sgd(loss_and_grad, W0, X, y, lr, batch_size, num_steps, seed=0, rho=0.0,
                  lr_schedule=None):
    rng = np.random.default_rng(seed)
    W = W0.copy()
    velocity = 0.0
    losses = np.zeros(num_steps)
    for t in range(num_steps):
        idx = rng.choice(X.shape[0], size=batch_size, replace=False)
        losses[t], dW = loss_and_grad(W, X[idx], y[idx])
        W, velocity = sgd_momentum_step(W, dW, velocity, lr_schedule(t) if lr_schedule else lr,
                                        rho)
    return W, losses
