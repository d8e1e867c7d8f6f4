"""A two-layer network, ``affine - relu - affine - softmax``, with its loss and gradients.

Shapes: ``X`` is ``(N, D)`` (one example per row), ``y`` holds ``N`` integer labels in
``[0, C)``; the parameters are ``W1`` ``(D, H)``, ``b1`` ``(H,)``, ``W2`` ``(H, C)`` and
``b2`` ``(C,)``. The scores are ``relu(X @ W1 + b1) @ W2 + b2``, shape ``(N, C)``.

Build the network from your layers in layers.py (import them by name, as below) and write the
softmax cross-entropy here. Use NumPy only: no torch, autograd, scipy or sklearn in this file.
"""

from __future__ import annotations

import numpy as np
from layers import affine_backward, affine_forward, relu_backward, relu_forward  # noqa: F401 (your code will use it)


def two_layer_loss(
    X: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray], reg: float = 0.0
) -> tuple[float, dict[str, np.ndarray]]:
    """Loss of the two-layer network on ``(X, y)``, and its gradient for every parameter.

    params: a dict with the keys ``"W1"``, ``"b1"``, ``"W2"``, ``"b2"`` (shapes above).
    The loss is the mean over the N examples of the softmax cross-entropy of the scores, plus
    ``reg * (sum(W1**2) + sum(W2**2))``: both weight matrices are regularized, the biases are not,
    and there is no factor 1/2.

    Returns ``(loss, grads)``: ``loss`` a number, ``grads`` a dict with the same four keys as
    ``params``, each the gradient of the loss with respect to that parameter (same shape).

    Compute the forward pass with ``affine_forward`` and ``relu_forward``, then go backwards
    through the same layers with ``affine_backward`` and ``relu_backward``. Keep the softmax
    numerically stable (scores up to 1e4 must give a finite loss). Do not modify ``X``, ``y``,
    ``params`` or the arrays in it; derive the gradients by hand (no torch or autograd).
    """
    # TODO: implement two_layer_loss as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("two_layer_loss is not implemented yet")
    # ==== END OF YOUR CODE ====
