"""A two-layer network, ``affine - relu - affine - softmax``, with its loss and gradients.

Shapes: ``X`` is ``(N, D)`` (one example per row), ``y`` holds ``N`` integer labels in
``[0, C)``; the parameters are ``W1`` ``(D, H)``, ``b1`` ``(H,)``, ``W2`` ``(H, C)`` and
``b2`` ``(C,)``. The scores are ``relu(X @ W1 + b1) @ W2 + b2``, shape ``(N, C)``.

Build the network from your layers in layers.py (import them by name, as below) and write the
softmax cross-entropy here. Use NumPy only: no torch, autograd, scipy or sklearn in this file.
"""

from __future__ import annotations

import numpy as np
from layers import affine_backward, affine_forward, relu_backward, relu_forward


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
    # BEGIN SOLUTION
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    N = X.shape[0]
    rows = np.arange(N)
    # Forward: keep every layer's input, the backward pass needs it.
    a1 = affine_forward(X, W1, b1)
    h1 = relu_forward(a1)
    scores = affine_forward(h1, W2, b2)
    # Softmax cross-entropy, stable: shift each row so that its largest score is 0.
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    exp_scores = np.exp(shifted)
    sum_exp = np.sum(exp_scores, axis=1, keepdims=True)
    log_probs = shifted - np.log(sum_exp)
    data_loss = -np.sum(log_probs[rows, y]) / N
    reg_loss = reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    loss = data_loss + reg_loss
    # Backward: d loss / d scores = (probabilities - one_hot(y)) / N ...
    dscores = exp_scores / sum_exp
    dscores[rows, y] -= 1
    dscores /= N
    # ... then through the layers in reverse order.
    dh1, dW2, db2 = affine_backward(dscores, h1, W2, b2)
    da1 = relu_backward(dh1, a1)
    _, dW1, db1 = affine_backward(da1, X, W1, b1)
    # The penalty reg * sum(W**2) adds 2 * reg * W to each weight matrix's gradient.
    dW1 = dW1 + 2 * reg * W1
    dW2 = dW2 + 2 * reg * W2
    return float(loss), {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
    # END SOLUTION
