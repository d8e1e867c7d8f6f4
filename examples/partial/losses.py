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
    # Shift every row so its largest score is 0: exp() then never overflows.
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    exp_scores = np.exp(shifted)
    # Normalize each row to sum to 1.
    return exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
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
    N = scores.shape[0]
    rows = np.arange(N)
    # log softmax = s - log(sum(exp(s))); shift by the row max before exponentiating.
    row_max = np.max(scores, axis=1, keepdims=True)
    log_sum_exp = row_max + np.log(np.sum(np.exp(scores - row_max), axis=1, keepdims=True))
    log_probs = scores - log_sum_exp
    # The loss of example i is minus the log-probability of its correct class.
    return float(-np.mean(log_probs[rows, y]))
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
    N = scores.shape[0]
    rows = np.arange(N)
    # How far each wrong class comes within `margin` of the correct one (0 when it stays clear).
    correct = scores[rows, y][:, np.newaxis]
    margins = np.maximum(0, scores - correct + margin)
    # The sum runs over j != y_i only: drop the correct class's own term.
    margins[rows, y] = 0
    return float(np.sum(margins) / N)
    # ==== END OF YOUR CODE ====


def squared_svm_loss(scores: np.ndarray, y: np.ndarray, margin: float = 1.0) -> float:
    """Squared hinge loss: as ``svm_loss`` with every term squared.

    The mean over examples of ``sum_{j != y_i} max(0, s_j - s_{y_i} + margin) ** 2``.
    scores: (N, C); y: (N,). Returns a scalar.
    """
    # TODO: implement squared_svm_loss as its docstring says.
    # ==== YOUR CODE HERE ====
    N = scores.shape[0]
    rows = np.arange(N)
    correct = scores[rows, y][:, np.newaxis]
    margins = np.maximum(0, scores - correct + margin)
    margins[rows, y] = 0
    # Squaring punishes a large violation much more than a small one.
    return float(np.sum(margins**2) / N)
    # ==== END OF YOUR CODE ====


def l2_penalty(W: np.ndarray) -> float:
    """L2 regularization ``R(W) = sum of W**2`` over all entries (no factor 1/2).

    W: array of any shape. Returns a scalar.
    """
    # TODO: implement l2_penalty as its docstring says.
    # ==== YOUR CODE HERE ====
    return float(np.sum(W * W))
    # ==== END OF YOUR CODE ====


def l1_penalty(W: np.ndarray) -> float:
    """L1 regularization ``R(W) = sum of |W|`` over all entries.

    W: array of any shape. Returns a scalar.
    """
    # TODO: implement l1_penalty as its docstring says.
    # ==== YOUR CODE HERE ====
    return float(np.sum(np.abs(W)))
    # ==== END OF YOUR CODE ====


def elastic_net_penalty(W: np.ndarray, beta: float) -> float:
    """Elastic net (L1 + L2) in the slide's form: ``sum(beta * W**2 + |W|)``.

    W: array of any shape; beta: weight of the squared term. Returns a scalar.
    """
    # TODO: implement elastic_net_penalty as its docstring says.
    # ==== YOUR CODE HERE ====
    return float(np.sum(beta * W * W + np.abs(W)))
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
    D = X.shape[1]
    # Normal equations with the penalty on the diagonal: (X^T X + lam I) w = X^T y.
    A = X.T @ X + lam * np.eye(D)
    b = X.T @ y
    return np.linalg.solve(A, b)
    # ==== END OF YOUR CODE ====
