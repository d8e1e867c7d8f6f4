"""Losses and penalties for a linear classifier (and ridge regression).

Conventions for the whole assignment: ``X`` is ``(N, D)``, ``y`` is ``(N,)`` integer labels in
``[0, C)``, ``W`` is ``(D, C)`` and the scores are ``S = X @ W`` of shape ``(N, C)``: one row per
example, one column per class. (The slides write ``f(x, W) = Wx`` with ``W`` of shape ``C x D``;
we use the transpose, as CS231n and EECS 498 do.)

Use NumPy only: no scipy, sklearn or torch in this file.
"""

from __future__ import annotations

import numpy as np


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax: turn each row of scores into probabilities.

    scores: (N, C) array of class scores.
    Returns an (N, C) array of non-negative numbers; every row sums to 1.

    Must stay finite for scores as large as 1e4 in magnitude: ``np.exp(1e4)`` overflows, so
    shift each row by its own maximum first (softmax does not change when a constant is added
    to a row). Do not use scipy.special.softmax.
    """
    # TODO: implement softmax as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("softmax is not implemented yet")
    # ==== END OF YOUR CODE ====


def cross_entropy_loss(scores: np.ndarray, y: np.ndarray) -> float:
    """Softmax cross-entropy: the mean over rows of ``-log softmax(scores)[i, y_i]``.

    scores: (N, C) class scores; y: (N,) integer labels in [0, C).
    Returns a scalar (a float or a 0-d NumPy float).

    Must stay finite for scores as large as 1e4 in magnitude, even when the correct class scores
    far below the best one: compute ``log softmax`` with the log-sum-exp trick rather than taking
    the log of a probability that may have underflowed to 0. Do not use scipy.
    """
    # TODO: implement cross_entropy_loss as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("cross_entropy_loss is not implemented yet")
    # ==== END OF YOUR CODE ====


def svm_loss(scores: np.ndarray, y: np.ndarray, margin: float = 1.0) -> float:
    """Multiclass SVM (hinge) loss.

    For each example i, sum over the wrong classes j != y_i of ``max(0, s_j - s_{y_i} + margin)``;
    return the mean of these sums over the N examples.

    scores: (N, C) class scores; y: (N,) integer labels in [0, C); margin: the required gap.
    Returns a scalar (a float or a 0-d NumPy float). The correct class itself contributes
    nothing (it is not part of the sum).
    """
    # TODO: implement svm_loss as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("svm_loss is not implemented yet")
    # ==== END OF YOUR CODE ====


def squared_svm_loss(scores: np.ndarray, y: np.ndarray, margin: float = 1.0) -> float:
    """Squared hinge loss: as ``svm_loss`` with every term squared.

    The mean over examples of ``sum_{j != y_i} max(0, s_j - s_{y_i} + margin) ** 2``.
    scores: (N, C); y: (N,). Returns a scalar.
    """
    # TODO: implement squared_svm_loss as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("squared_svm_loss is not implemented yet")
    # ==== END OF YOUR CODE ====


def l2_penalty(W: np.ndarray) -> float:
    """L2 regularization ``R(W) = sum of W**2`` over all entries (no factor 1/2).

    W: array of any shape. Returns a scalar.
    """
    # TODO: implement l2_penalty as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("l2_penalty is not implemented yet")
    # ==== END OF YOUR CODE ====


def l1_penalty(W: np.ndarray) -> float:
    """L1 regularization ``R(W) = sum of |W|`` over all entries.

    W: array of any shape. Returns a scalar.
    """
    # TODO: implement l1_penalty as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("l1_penalty is not implemented yet")
    # ==== END OF YOUR CODE ====


def elastic_net_penalty(W: np.ndarray, beta: float) -> float:
    """Elastic net (L1 + L2) in the slide's form: ``sum(beta * W**2 + |W|)``.

    W: array of any shape; beta: weight of the squared term. Returns a scalar.
    """
    # TODO: implement elastic_net_penalty as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("elastic_net_penalty is not implemented yet")
    # ==== END OF YOUR CODE ====


def ridge_fit(X: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """L2-regularized least squares (ridge regression).

    Returns the ``w`` minimizing ``||y - X w||^2 + lam * ||w||^2``, shape (D,).
    X: (N, D) inputs; y: (N,) targets; lam >= 0.

    Every coefficient is penalized, including the one for a bias column of ones if ``X`` has
    one. Setting the gradient to zero gives the linear system ``(X^T X + lam I) w = X^T y``:
    solve it with ``np.linalg.solve`` (more accurate than forming an inverse). Do not use
    sklearn or scipy.
    """
    # TODO: implement ridge_fit as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("ridge_fit is not implemented yet")
    # ==== END OF YOUR CODE ====
