# examples/buggy: the reference solution with known bugs, for the grader's tests.
# BUG: numeric_gradient uses the one-sided difference (f(x + h) - f(x)) / h
"""Analytic gradients of the linear classifier's losses, and the numeric gradient check.

Shapes as in losses.py: ``W`` (D, C), ``X`` (N, D), ``y`` (N,), scores ``X @ W`` (N, C).
The regularized loss is ``data loss + reg * sum(W**2)`` (no factor 1/2), so the penalty adds
``2 * reg * W`` to the gradient.

Use NumPy only: no scipy, sklearn or torch in this file.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def softmax_loss_and_grad(
    W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float
) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy loss of a linear classifier, and its gradient.

    Returns ``(loss, dW)`` where ``loss = cross_entropy_loss(X @ W, y) + reg * l2_penalty(W)``
    and ``dW`` (same shape as ``W``) is the gradient of ``loss`` with respect to ``W``.

    Loops or vectorized code are both fine. Keep it numerically stable (scores up to 1e4).
    Derive the gradient by hand: no torch or autograd here.
    """
    # TODO: implement softmax_loss_and_grad as its docstring says.
    # ==== YOUR CODE HERE ====
    N = X.shape[0]
    rows = np.arange(N)
    scores = X @ W
    # Stable softmax: shift each row by its max before exponentiating.
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    exp_scores = np.exp(shifted)
    sum_exp = np.sum(exp_scores, axis=1, keepdims=True)
    log_probs = shifted - np.log(sum_exp)
    loss = -np.mean(log_probs[rows, y]) + reg * np.sum(W * W)
    # d loss / d scores = (probabilities - one_hot(y)) / N.
    dscores = exp_scores / sum_exp
    dscores[rows, y] -= 1
    dscores /= N
    # Backprop through scores = X @ W, then add the penalty's gradient.
    dW = X.T @ dscores + 2 * reg * W
    return float(loss), dW
    # ==== END OF YOUR CODE ====


def svm_loss_and_grad(
    W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float, margin: float = 1.0
) -> tuple[float, np.ndarray]:
    """Multiclass SVM loss of a linear classifier, and its (sub)gradient.

    Returns ``(loss, dW)`` with ``loss = svm_loss(X @ W, y, margin) + reg * l2_penalty(W)`` and
    ``dW`` of the same shape as ``W``.

    The hinge is not differentiable at its kink; where ``s_j - s_{y_i} + margin == 0`` exactly,
    treat the term as inactive (it contributes 0 to the gradient). Derive the gradient by hand:
    no torch or autograd here.
    """
    # TODO: implement svm_loss_and_grad as its docstring says.
    # ==== YOUR CODE HERE ====
    N = X.shape[0]
    rows = np.arange(N)
    scores = X @ W
    correct = scores[rows, y][:, np.newaxis]
    margins = np.maximum(0, scores - correct + margin)
    margins[rows, y] = 0
    loss = np.sum(margins) / N + reg * np.sum(W * W)
    # Each violated margin (strictly > 0) pushes its own class's score up by 1 ...
    active = (margins > 0).astype(scores.dtype)
    dscores = active
    # ... and the correct class's score down by 1, once per violation in its row.
    dscores[rows, y] = -np.sum(active, axis=1)
    dscores /= N
    dW = X.T @ dscores + 2 * reg * W
    return float(loss), dW
    # ==== END OF YOUR CODE ====


def numeric_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Numeric gradient of a scalar function by centered differences.

    For every element k of ``x`` (any shape), estimate
    ``df/dx_k ~ (f(x + h e_k) - f(x - h e_k)) / (2 h)`` where ``e_k`` is the k-th unit array.
    Call ``f`` exactly twice per element. ``x`` must hold its original values when the function
    returns (perturb it in place and restore, or perturb a copy).

    f: maps an array shaped like ``x`` to a scalar. x: float array. h: the step.
    Returns an array of the same shape as ``x``.
    """
    # TODO: implement numeric_gradient as its docstring says.
    # ==== YOUR CODE HERE ====
    grad = np.zeros(x.shape, dtype=float)
    # Visit every index of x, whatever its shape (np.ndindex also handles 0-d arrays).
    for ix in np.ndindex(x.shape):
        old_value = x[ix]
        try:
            x[ix] = old_value + h
            f_plus = f(x)
            x[ix] = old_value
            f_minus = f(x)
        finally:
            # Put the value back before moving on, even if f raised.
            x[ix] = old_value
        # Centered difference: its error is O(h^2), one-sided is only O(h).
        grad[ix] = (f_plus - f_minus) / h
    return grad
    # ==== END OF YOUR CODE ====


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest elementwise relative error between two arrays of the same shape.

    ``max over elements of |a - b| / max(1e-8, |a| + |b|)``; the 1e-8 floor keeps 0 / 0 at 0.
    Returns a scalar.
    """
    # TODO: implement relative_error as its docstring says.
    # ==== YOUR CODE HERE ====
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
    # ==== END OF YOUR CODE ====


def gradient_check(
    f: Callable[[np.ndarray], float],
    grad_f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    h: float = 1e-5,
    tol: float = 1e-6,
) -> tuple[bool, float]:
    """Compare an analytic gradient with the numeric one.

    Returns ``(passed, error)`` where
    ``error = relative_error(grad_f(x), numeric_gradient(f, x, h))`` and
    ``passed = error < tol``. Use your ``numeric_gradient`` and ``relative_error``.
    """
    # TODO: implement gradient_check as its docstring says.
    # ==== YOUR CODE HERE ====
    analytic = grad_f(x)
    numeric = numeric_gradient(f, x, h)
    error = relative_error(analytic, numeric)
    return bool(error < tol), error
    # ==== END OF YOUR CODE ====
