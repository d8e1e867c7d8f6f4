# examples/buggy: the reference solution with known bugs, for the grader's tests.
# No bugs in this file: it is the reference solution.
"""Choosing hyperparameters: data splits, k-fold cross-validation, grid and random search.

Never tune hyperparameters on the test set: pick them on validation data (or by k-fold
cross-validation on the training data) and touch the test set once, at the very end.

Use NumPy and the standard library only: no sklearn in this file.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from losses import ridge_fit


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
    rng = np.random.default_rng(seed)
    order = rng.permutation(N)
    num_test = round(N * test_frac)
    num_val = round(N * val_frac)
    # Deal the shuffled indices out: test first, then validation, the rest is training data.
    test_idx = order[:num_test]
    val_idx = order[num_test : num_test + num_val]
    train_idx = order[num_test + num_val :]
    return train_idx, val_idx, test_idx
    # ==== END OF YOUR CODE ====


def k_fold_indices(N: int, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Index pairs for k-fold cross-validation over ``N`` examples.

    Returns a list of ``k`` pairs ``(train_idx, val_idx)``. The validation folds are
    ``np.array_split(np.arange(N), k)``, in that order (consecutive, not shuffled); each fold's
    training indices are all the others, in increasing order.
    """
    # TODO: implement k_fold_indices as its docstring says.
    # ==== YOUR CODE HERE ====
    folds = []
    for val_idx in np.array_split(np.arange(N), k):
        # Train on everything outside the held-out fold.
        is_train = np.ones(N, dtype=bool)
        is_train[val_idx] = False
        folds.append((np.flatnonzero(is_train), val_idx))
    return folds
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
    errors = []
    for train_idx, val_idx in k_fold_indices(len(X), k):
        # Fit on k - 1 folds, measure on the fold the model has not seen.
        model = fit(X[train_idx], y[train_idx])
        errors.append(error(model, X[val_idx], y[val_idx]))
    return float(np.mean(errors))
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
    names = list(grid)
    best_params, best_value = None, math.inf
    for values in itertools.product(*(grid[name] for name in names)):
        params = dict(zip(names, values, strict=True))
        value = objective(**params)
        # Strictly better only: on a tie the earlier combination stays.
        if best_params is None or value < best_value:
            best_params, best_value = params, value
    return best_params, best_value
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
    rng = np.random.default_rng(seed)
    best_params, best_value = None, math.inf
    for _ in range(num_iters):
        params = {}
        for name, (low, high, scale) in space.items():
            if scale == "linear":
                sample = rng.uniform(low, high)
            elif scale == "log":
                # Uniform in the exponent: every decade gets the same share of the samples.
                sample = math.exp(rng.uniform(math.log(low), math.log(high)))
            else:
                raise ValueError(f"scale must be 'linear' or 'log', not {scale!r}")
            # exp(log(high)) may round a hair past the bound: clip it back inside.
            params[name] = min(max(float(sample), low), high)
        value = objective(**params)
        # Strictly better only: on a tie the earlier evaluation stays.
        if best_params is None or value < best_value:
            best_params, best_value = params, value
    return best_params, best_value
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
    best_lam, best_error = None, math.inf
    # Smallest first, so that on a tie the smallest lam wins (strict < below).
    for lam in sorted(lams):
        # cross_validate's two callables: ridge with this lam, and the validation MSE.
        def fit(X_train, y_train, lam=lam):
            return ridge_fit(X_train, y_train, lam)

        def mean_squared_error(w, X_val, y_val):
            return float(np.mean((X_val @ w - y_val) ** 2))

        error = cross_validate(fit, mean_squared_error, X, y, k)
        if best_lam is None or error < best_error:
            best_lam, best_error = lam, error
    return best_lam
    # ==== END OF YOUR CODE ====
