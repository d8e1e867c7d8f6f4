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
    raise NotImplementedError("softmax_loss_and_grad is not implemented yet")
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
    raise NotImplementedError("svm_loss_and_grad is not implemented yet")
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
    raise NotImplementedError("numeric_gradient is not implemented yet")
    # ==== END OF YOUR CODE ====


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest elementwise relative error between two arrays of the same shape.

    ``max over elements of |a - b| / max(1e-8, |a| + |b|)``; the 1e-8 floor keeps 0 / 0 at 0.
    Returns a scalar.
    """
    # TODO: implement relative_error as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("relative_error is not implemented yet")
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
    raise NotImplementedError("gradient_check is not implemented yet")
    # ==== END OF YOUR CODE ====
