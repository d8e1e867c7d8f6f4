"""Choosing hyperparameters: data splits, k-fold cross-validation, grid and random search.

Never tune hyperparameters on the test set: pick them on validation data (or by k-fold
cross-validation on the training data) and touch the test set once, at the very end.

Use NumPy and the standard library only: no sklearn in this file.
"""

from __future__ import annotations

import itertools  # noqa: F401 (your code will use it)
import math  # noqa: F401 (your code will use it)
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from losses import ridge_fit  # noqa: F401 (your code will use it)


def train_val_test_split(
    N: int, val_frac: float = 0.2, test_frac: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split the indices ``0 .. N-1`` at random into train, validation and test sets.

    Returns ``(train_idx, val_idx, test_idx)``: three disjoint integer arrays that together
    cover ``range(N)``, with ``round(N * test_frac)`` test and ``round(N * val_frac)``
    validation indices and the rest for training. Shuffle with
    ``np.random.default_rng(seed)``.
    """
    # TODO: implement train_val_test_split as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("train_val_test_split is not implemented yet")
    # ==== END OF YOUR CODE ====


def k_fold_indices(N: int, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Index pairs for k-fold cross-validation over ``N`` examples.

    Returns a list of ``k`` pairs ``(train_idx, val_idx)``. The validation folds are
    ``np.array_split(np.arange(N), k)``, in that order (consecutive, not shuffled); each fold's
    training indices are all the others, in increasing order.
    """
    # TODO: implement k_fold_indices as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("k_fold_indices is not implemented yet")
    # ==== END OF YOUR CODE ====


def cross_validate(
    fit: Callable[[np.ndarray, np.ndarray], Any],
    error: Callable[[Any, np.ndarray, np.ndarray], float],
    X: np.ndarray,
    y: np.ndarray,
    k: int,
) -> float:
    """k-fold cross-validation error.

    For each pair ``(train_idx, val_idx)`` of ``k_fold_indices(len(X), k)``: fit a model with
    ``model = fit(X[train_idx], y[train_idx])`` and score it with
    ``error(model, X[val_idx], y[val_idx])``. Returns the mean of the ``k`` errors.
    """
    # TODO: implement cross_validate as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("cross_validate is not implemented yet")
    # ==== END OF YOUR CODE ====


def grid_search(
    objective: Callable[..., float], grid: Mapping[str, Sequence[Any]]
) -> tuple[dict[str, Any], float]:
    """Try every combination of hyperparameter values; keep the best.

    grid: maps each hyperparameter's name to the list of values to try, e.g.
    ``{"lr": [1e-3, 1e-2], "reg": [0.0, 0.1]}``. Call ``objective(**params)`` exactly once for
    each combination (lower is better). Returns ``(best_params, best_value)``, where
    ``best_params`` is a dict name -> value; ties go to the first combination in
    ``itertools.product`` order.
    """
    # TODO: implement grid_search as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("grid_search is not implemented yet")
    # ==== END OF YOUR CODE ====


def random_search(
    objective: Callable[..., float],
    space: Mapping[str, tuple[float, float, str]],
    num_iters: int,
    seed: int = 0,
) -> tuple[dict[str, Any], float]:
    """Random search: sample every hyperparameter at random, ``num_iters`` times.

    space: maps each name to ``(low, high, scale)``; ``scale`` is ``"linear"`` (uniform between
    low and high) or ``"log"`` (log-uniform: uniform in ``log`` between ``log(low)`` and
    ``log(high)``, the right choice for learning rates and regularization strengths).
    Use ``rng = np.random.default_rng(seed)``; evaluate ``objective(**params)`` exactly
    ``num_iters`` times with every value within its bounds. Returns
    ``(best_params, best_value)``, ties going to the earliest evaluation.
    """
    # TODO: implement random_search as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("random_search is not implemented yet")
    # ==== END OF YOUR CODE ====


def choose_ridge_lambda(X: np.ndarray, y: np.ndarray, lams: Sequence[float], k: int = 5) -> float:
    """Pick the ridge regularization strength by k-fold cross-validation.

    For each ``lam`` in ``lams``, fit ``ridge_fit`` on the training folds of
    ``k_fold_indices(len(X), k)`` and measure the mean squared error on the validation fold
    (use your ``cross_validate``). Returns the ``lam`` with the least mean validation error;
    ties go to the smallest ``lam``.
    """
    # TODO: implement choose_ridge_lambda as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("choose_ridge_lambda is not implemented yet")
    # ==== END OF YOUR CODE ====
