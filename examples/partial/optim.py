"""Optimizers: gradient descent, SGD, SGD + momentum and Adam.

The ``*_step`` functions take the current weights ``w`` (any shape), their gradient ``dw``
(same shape) and the optimizer state, and return the updated arrays. They may update their
array arguments in place (as PyTorch and CS231n do), but must return the updated arrays.
``gradient_descent`` and ``minibatch_sgd`` must leave their arguments unchanged.

Use NumPy only: no torch.optim in this file.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def sgd_step(w: np.ndarray, dw: np.ndarray, lr: float) -> np.ndarray:
    """One step of (stochastic) gradient descent: returns ``w - lr * dw``."""
    # TODO: implement sgd_step as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("sgd_step is not implemented yet")
    # ==== END OF YOUR CODE ====


def sgd_momentum_step(
    w: np.ndarray, dw: np.ndarray, v: np.ndarray, lr: float, rho: float = 0.9
) -> tuple[np.ndarray, np.ndarray]:
    """One step of SGD with momentum, in PyTorch's form (no dampening).

    ``v_new = rho * v + dw`` (the velocity: a running sum of gradients that decays by ``rho``),
    then ``w_new = w - lr * v_new``. Returns ``(w_new, v_new)``.

    Start ``v`` at zeros and feed the returned velocity back into the next call. (The CS231n form
    ``v = rho * v - lr * dw; w = w + v`` gives the same weights from zero velocity and also earns
    full marks.) With ``rho = 0`` this is plain SGD.
    """
    # TODO: implement sgd_momentum_step as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("sgd_momentum_step is not implemented yet")
    # ==== END OF YOUR CODE ====


def adam_step(
    w: np.ndarray,
    dw: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    t: int,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of Adam, as ``torch.optim.Adam`` (bias-corrected).

    ``m`` and ``v`` are the running first and second moments of the gradient (start both at
    zeros); ``t`` is the number of this step, counting from 1. Returns ``(w_new, m_new, v_new)``::

        m_new = beta1 * m + (1 - beta1) * dw
        v_new = beta2 * v + (1 - beta2) * dw**2
        m_hat = m_new / (1 - beta1**t);  v_hat = v_new / (1 - beta2**t)
        w_new = w - lr * m_hat / (sqrt(v_hat) + eps)
    """
    # TODO: implement adam_step as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("adam_step is not implemented yet")
    # ==== END OF YOUR CODE ====


def gradient_descent(
    grad_fn: Callable[[np.ndarray], np.ndarray], w0: np.ndarray, lr: float, num_steps: int
) -> np.ndarray:
    """Full-batch gradient descent from ``w0`` with a constant step ``lr``.

    grad_fn: maps weights (shaped like ``w0``) to the gradient of the loss there.
    Returns every iterate ``w_0 = w0, w_1, ..., w_num_steps`` stacked in one array of shape
    ``(num_steps + 1,) + w0.shape``. Do not modify ``w0``.
    """
    # TODO: implement gradient_descent as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("gradient_descent is not implemented yet")
    # ==== END OF YOUR CODE ====


def minibatch_sgd(
    loss_and_grad: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[float, np.ndarray]],
    W0: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    lr: float,
    batch_size: int,
    num_steps: int,
    seed: int = 0,
    rho: float = 0.0,
    lr_schedule: Callable[[int], float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Minibatch SGD (with optional momentum and learning-rate schedule).

    loss_and_grad: ``loss_and_grad(W, X_batch, y_batch) -> (loss, dW)``, e.g.
    ``lambda W, Xb, yb: softmax_loss_and_grad(W, Xb, yb, reg)``.
    W0: initial weights (not modified); X: (N, D); y: (N,).

    Exactly this recipe (the grader replays it):

    - ``rng = np.random.default_rng(seed)``, velocity starts at zeros shaped like ``W0``;
    - for each step ``t = 0, 1, ..., num_steps - 1``:
      ``idx = rng.choice(N, size=batch_size, replace=False)``;
      ``loss, dW = loss_and_grad(W, X[idx], y[idx])``; record ``loss``;
      update with your ``sgd_momentum_step(W, dW, v, step_lr, rho)`` where ``step_lr`` is
      ``lr_schedule(t)`` if a schedule is given, else ``lr``.

    Returns ``(W, losses)``: the final weights and the array of the ``num_steps`` recorded
    losses, shape ``(num_steps,)``.
    """
    # TODO: implement minibatch_sgd as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("minibatch_sgd is not implemented yet")
    # ==== END OF YOUR CODE ====
