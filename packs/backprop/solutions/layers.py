"""The layers of a small network, each with a forward and a hand-written backward pass.

Shapes follow CS231n: a batch ``x`` is ``(N, D)``, one example per row; an affine layer has
weights ``w`` of shape ``(D, M)`` and a bias ``b`` of shape ``(M,)``, and maps ``x`` to
``x @ w + b``, shape ``(N, M)``. A backward function receives ``dout``, the gradient of the
final loss with respect to the layer's output (same shape as the output), and the layer's
inputs, and returns the gradients of the loss with respect to those inputs, each shaped like
the input it belongs to.

The API is functional: no caches, no classes, no state between calls. A function must not
modify its array arguments. Use NumPy only: no torch, autograd, scipy or sklearn in this file.
"""

from __future__ import annotations

import numpy as np


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Forward pass of a fully connected (affine) layer.

    x: ``(N, D)`` inputs, one example per row. w: ``(D, M)`` weights. b: ``(M,)`` biases.
    Returns ``out = x @ w + b`` of shape ``(N, M)`` (the bias is added to every row).
    """
    # BEGIN SOLUTION
    return x @ w + b
    # END SOLUTION


def affine_backward(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of the affine layer ``out = x @ w + b``.

    dout: ``(N, M)``, the gradient of the loss with respect to ``out``. x, w, b: the inputs of
    the forward pass, shapes ``(N, D)``, ``(D, M)``, ``(M,)``.
    Returns ``(dx, dw, db)`` with shapes ``(N, D)``, ``(D, M)`` and ``(M,)``: the gradients of
    the loss with respect to ``x``, ``w`` and ``b``. Every row of ``x`` used the same ``b``, so
    ``db`` collects the contributions of all N rows.
    """
    # BEGIN SOLUTION
    # Each out[n, m] = sum_d x[n, d] w[d, m] + b[m]: the chain rule, one matrix product each.
    dx = dout @ w.T
    dw = x.T @ dout
    # The bias was broadcast over the N rows, so its gradient sums over them.
    db = np.sum(dout, axis=0)
    return dx, dw, db
    # END SOLUTION


def relu_forward(x: np.ndarray) -> np.ndarray:
    """Forward pass of the rectified linear unit, elementwise: ``max(0, x)``.

    x: an array of any shape. Returns an array of the same shape.
    """
    # BEGIN SOLUTION
    return np.maximum(0, x)
    # END SOLUTION


def relu_backward(dout: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Backward pass of the ReLU ``out = max(0, x)``.

    dout: the gradient of the loss with respect to ``out``. x: the input of the forward pass,
    same shape as ``dout``. Returns ``dx``, same shape: ``dout`` where ``x > 0`` and 0 where
    ``x <= 0``. At ``x == 0`` exactly the ReLU has a kink; use the subgradient 0 there, as
    PyTorch's ``relu`` does.
    """
    # BEGIN SOLUTION
    # The gradient flows only through the units that were switched on (strictly positive).
    dx = np.where(x > 0, dout, 0.0)
    return dx
    # END SOLUTION
