"""Public tests of search.py: splits, k-fold indices, cross-validation, grid and random search, lambda.

The callables handed to your functions (``fit``, ``error``, ``objective``) run on the grader's side
and record every call, so these tests check what your code asks of them, never exact random
indices: a random split or search is checked by its properties.
"""

import numpy as np
import pytest

from grader.testing import StudentFailure, as_array, as_scalar, compare, messages, summarize

CHECK = "`{name}`: {what}.\n  input:    {inputs}\n  expected: {expected}\n  got:      {got}\n"


def failure(name, what, inputs, expected, got, category):
    return StudentFailure(
        CHECK.format(name=name, what=what, inputs=inputs, expected=expected, got=got),
        category=category,
    )


def parts(name, got, names):
    """A tuple result with one member per name, else a type failure."""
    if not isinstance(got, (tuple, list)) or len(got) != len(names):
        kind = f"a {type(got).__name__}" + (
            f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
        )
        raise StudentFailure(
            messages.WRONG_TYPE.format(
                name=name, expected=f"a tuple ({', '.join(names)})", got=kind
            ),
            category="wrong type",
        )
    return got


def index_array(name, got, what):
    """A 1-d array of whole numbers (a list is fine), as ints."""
    arr = as_array(name, got)
    if arr.ndim != 1 or (arr.dtype.kind == "f" and not np.all(arr == np.round(arr))):
        raise StudentFailure(
            messages.WRONG_TYPE.format(
                name=name, expected=f"{what} as a 1-d array of integer indices", got=summarize(arr)
            ),
            category="wrong type",
        )
    return arr.astype(int)


# -- train_val_test_split -------------------------------------------------------------------------


def split(student, N, **kwargs):
    got = parts(
        "train_val_test_split",
        student.train_val_test_split(N, **kwargs),
        ("train_idx", "val_idx", "test_idx"),
    )
    return [
        index_array("train_val_test_split", p, w)
        for p, w in zip(got, ("train", "val", "test"), strict=True)
    ]


@pytest.mark.points(1)
@pytest.mark.tags("train_val_test_split")
def test_split_sizes_and_partition(student):
    """train_val_test_split(20): 12 train, 4 validation, 4 test indices, disjoint and covering 0..19"""
    train, val, test = split(student, 20)
    sizes = (len(train), len(val), len(test))
    everything = sorted(np.concatenate([train, val, test]).tolist())
    if everything != list(range(20)) or sizes != (12, 4, 4):
        raise failure(
            "train_val_test_split",
            "the three index sets must be disjoint, cover range(N), and hold "
            "round(N * test_frac) test and round(N * val_frac) validation indices",
            "N=20, val_frac=0.2, test_frac=0.2 (the defaults)",
            "sizes (train, val, test) = (12, 4, 4), every index 0..19 exactly once",
            f"sizes {sizes}, {len(everything)} indices of which {len(set(everything))} distinct",
            "not a partition",
        )


@pytest.mark.points(1)
@pytest.mark.tags("train_val_test_split")
def test_split_follows_the_seed(student):
    """train_val_test_split: the same seed gives the same split, another seed another split"""
    first = split(student, 30, seed=7)
    again = split(student, 30, seed=7)
    other = split(student, 30, seed=8)
    same = all(a.tolist() == b.tolist() for a, b in zip(first, again, strict=True))
    if not same:
        raise failure(
            "train_val_test_split",
            "two calls with the same seed must return the same split "
            "(shuffle with rng = np.random.default_rng(seed), nothing else random)",
            "N=30, seed=7, twice",
            f"test={first[2].tolist()} both times",
            f"test={first[2].tolist()}, then test={again[2].tolist()}",
            "not reproducible",
        )
    if all(a.tolist() == b.tolist() for a, b in zip(first, other, strict=True)):
        raise failure(
            "train_val_test_split",
            "another seed must give another split (use the seed argument)",
            "N=30, seed=7 and seed=8",
            "two different splits",
            f"test={first[2].tolist()} for both seeds",
            "seed ignored",
        )


# -- k_fold_indices -------------------------------------------------------------------------------


def folds(student, N, k):
    """The student's k_fold_indices(N, k) as a list of (train, val) int arrays."""
    got = student.k_fold_indices(N, k)
    if not isinstance(got, (list, tuple)) or len(got) != k:
        raise StudentFailure(
            messages.WRONG_TYPE.format(
                name="k_fold_indices",
                expected=f"a list of k = {k} pairs (train_idx, val_idx)",
                got=summarize(got)[:200],
            ),
            category="wrong type",
        )
    out = []
    for pair in got:
        train, val = parts("k_fold_indices", pair, ("train_idx", "val_idx"))
        out.append(
            (
                index_array("k_fold_indices", train, "train"),
                index_array("k_fold_indices", val, "val"),
            )
        )
    return out


@pytest.mark.points(2)
@pytest.mark.tags("k_fold_indices")
def test_k_fold_indices_ten_in_three(student):
    """k_fold_indices(10, 3): validation folds [0..3], [4..6], [7..9] in order, train the rest"""
    got = folds(student, 10, 3)
    expected_val = [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    for i, ((train, val), exp_val) in enumerate(zip(got, expected_val, strict=True)):
        exp_train = [j for j in range(10) if j not in exp_val]
        if val.tolist() != exp_val or sorted(train.tolist()) != exp_train:
            raise failure(
                "k_fold_indices",
                f"pair {i} is wrong: the validation folds are np.array_split(np.arange(N), k) "
                "in order (the first N % k folds one longer), and train is every other index",
                "N=10, k=3",
                f"train={exp_train}, val={exp_val}",
                f"train={train.tolist()}, val={val.tolist()}",
                "wrong folds",
            )


# -- cross_validate -------------------------------------------------------------------------------


def mean_model(X_train, y_train):
    """fit: the model is the mean of y_train"""
    return float(np.mean(y_train))


def squared_error(model, X_val, y_val):
    """error: the mean of (y_val - model)**2"""
    return float(np.mean((np.asarray(y_val, dtype=float) - model) ** 2))


@pytest.mark.points(1)
@pytest.mark.tags("cross_validate")
def test_cross_validate_mean_model(student, reference):
    """cross_validate of a predict-the-mean model on 7 examples, k = 3"""
    X = np.arange(14.0).reshape(7, 2)
    y = np.arange(7.0) ** 2
    compare(student, reference, "cross_validate", mean_model, squared_error, X, y, 3)


class Recorder:
    """fit and error that record their calls; each fit returns a new model number."""

    def __init__(self):
        self.fits, self.errors = [], []

    def fit(self, X_train, y_train):
        """fit: records its rows, returns a model number"""
        self.fits.append((np.array(X_train, dtype=float), np.array(y_train, dtype=float)))
        return float(len(self.fits))

    def error(self, model, X_val, y_val):
        """error: records the model and its rows, returns 1.0"""
        self.errors.append((model, np.array(X_val, dtype=float), np.array(y_val, dtype=float)))
        return 1.0


def rows_of(X, y):
    """The example numbers of rows (X[:, 0] holds them), checking X and y still belong together."""
    ids = np.asarray(X, dtype=float).reshape(len(X), -1)[:, 0].astype(int).tolist()
    paired = np.array_equal(np.asarray(y, dtype=float), 10.0 * np.asarray(ids, dtype=float))
    return ids, paired


@pytest.mark.points(1)
@pytest.mark.tags("cross_validate")
def test_cross_validate_fits_and_scores_each_fold(student):
    """cross_validate(k = 3) on 7 examples: fit on each fold's training rows, error on its validation rows"""
    X = np.c_[np.arange(7.0), np.ones(7)]  # column 0: the example's number
    y = 10.0 * np.arange(7.0)
    rec = Recorder()
    student.cross_validate(rec.fit, rec.error, X, y, 3)
    val_folds = [[0, 1, 2], [3, 4], [5, 6]]
    setup = "N=7 examples, k=3, X[:, 0] = the example's number, y = 10 * that number"
    fits = sorted(rows_of(Xt, yt)[0] for Xt, yt in rec.fits)
    expected = sorted([j for j in range(7) if j not in fold] for fold in val_folds)
    if fits != expected or not all(rows_of(Xt, yt)[1] for Xt, yt in rec.fits):
        raise failure(
            "cross_validate",
            "fit must be called once per fold with X[train_idx], y[train_idx] of that fold",
            setup,
            f"fit on the rows {expected}",
            f"fit on the rows {fits}",
            "wrong training data",
        )
    for model, Xv, yv in rec.errors:
        ids, paired = rows_of(Xv, yv)
        fold = next((f for f in val_folds if f == sorted(ids)), None)
        fitted_on = None
        if isinstance(model, float) and model.is_integer() and 1 <= model <= len(rec.fits):
            fitted_on = sorted(rows_of(*rec.fits[int(model) - 1])[0])
        if fold is None or not paired or fitted_on != [j for j in range(7) if j not in fold]:
            raise failure(
                "cross_validate",
                "error must be called with the model fit on the other folds and the "
                "validation fold's X[val_idx], y[val_idx]",
                setup,
                f"error(model, X_val, y_val) for the validation folds {val_folds}",
                f"error called on the rows {ids} with a model fit on "
                f"{fitted_on if fitted_on is not None else 'no recorded fit'}",
                "wrong validation data",
            )
    if len(rec.errors) != 3:
        raise failure(
            "cross_validate",
            "error must be called exactly once per fold",
            setup,
            "3 calls",
            f"{len(rec.errors)} calls",
            "wrong number of calls",
        )


# -- grid_search ----------------------------------------------------------------------------------


class Objective:
    """objective(**params) from a table of values; records every call."""

    def __init__(self, table):
        self.table, self.calls = table, []

    def __call__(self, **params):
        self.calls.append(dict(params))
        return self.table(params)


def best_pair(name, got):
    best = parts(name, got, ("best_params", "best_value"))
    if not isinstance(best[0], dict):
        raise StudentFailure(
            messages.WRONG_TYPE.format(
                name=name, expected="best_params as a dict name -> value", got=summarize(best[0])
            ),
            category="wrong type",
        )
    return best[0], as_scalar(name, best[1])


def is_number(x):
    """A real number (a Python or NumPy int or float, not a bool)."""
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def lr_reg_objective(p):
    """(log10(lr) + 2)**2 + reg"""
    return (float(np.log10(p["lr"])) + 2) ** 2 + p["reg"]


@pytest.mark.points(2)
@pytest.mark.tags("grid_search")
def test_grid_search_every_combination(student):
    """grid_search over 3 x 2 values: each combination evaluated once, the least value returned"""
    grid = {"lr": [0.1, 0.01, 0.001], "reg": [0.0, 1.0]}
    objective = Objective(lr_reg_objective)
    got = student.grid_search(objective, grid)
    inputs = f"grid={grid}, objective = (log10(lr) + 2)**2 + reg"
    seen = sorted((c.get("lr"), c.get("reg")) for c in objective.calls)
    expected = sorted((a, b) for a in grid["lr"] for b in grid["reg"])
    if seen != expected:
        raise failure(
            "grid_search",
            "objective(**params) must be called once for each combination of the grid",
            inputs,
            f"(lr, reg) = {expected}",
            f"(lr, reg) = {seen}",
            "wrong combinations",
        )
    params, value = best_pair("grid_search", got)
    if params != {"lr": 0.01, "reg": 0.0} or abs(value) > 1e-12:
        raise failure(
            "grid_search",
            "it must return the combination with the least objective value, and that value",
            inputs,
            "({'lr': 0.01, 'reg': 0.0}, 0.0)",
            f"({params}, {value:g})",
            "wrong best",
        )


# -- random_search --------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.tags("random_search")
def test_random_search_evaluations(student):
    """random_search: exactly num_iters = 25 evaluations within the bounds, the least value returned"""
    objective = Objective(lambda p: (p["x"] - 0.3) ** 2)
    space = {"x": (0.0, 1.0, "linear")}
    got = student.random_search(objective, space, 25, seed=3)
    inputs = f"space={space}, num_iters=25, seed=3, objective = (x - 0.3)**2"
    xs = [c.get("x") for c in objective.calls]
    if len(xs) != 25:
        raise failure(
            "random_search",
            "objective(**params) must be evaluated exactly num_iters times",
            inputs,
            "25 evaluations",
            f"{len(xs)} evaluations",
            "wrong number of evaluations",
        )
    if not all(is_number(x) and 0.0 <= x <= 1.0 for x in xs):
        raise failure(
            "random_search",
            "every sampled value must lie within its (low, high) bounds",
            inputs,
            "25 values of x in [0, 1]",
            summarize(np.asarray(xs, dtype=object))[:300],
            "out of bounds",
        )
    params, value = best_pair("random_search", got)
    values = [(x - 0.3) ** 2 for x in xs]
    best = int(np.argmin(values))
    if params != {"x": xs[best]} or abs(value - values[best]) > 1e-12:
        raise failure(
            "random_search",
            "it must return the evaluated params with the least objective value, and that value",
            inputs,
            f"({{'x': {xs[best]!r}}}, {values[best]!r}) (evaluation {best} of your 25)",
            f"({params}, {value!r})",
            "wrong best",
        )


# -- choose_ridge_lambda --------------------------------------------------------------------------

LATITUDE = np.array([[1.0, 42.0], [1.0, 39.0], [1.0, 30.0]])  # bias column, latitude
TEMPERATURE = np.array([33.0, 38.0, 62.0])


@pytest.mark.points(1)
@pytest.mark.tags("choose_ridge_lambda")
def test_choose_ridge_lambda_latitude(student, reference):
    """choose_ridge_lambda on the lecture's latitude/temperature table by leave-one-out (k = 3)"""
    lams = [100.0, 0.02, 0.0, 1.0]
    compare(student, reference, "choose_ridge_lambda", LATITUDE, TEMPERATURE, lams, k=3)


def noisy_line():
    rng = np.random.default_rng(2)
    x = rng.uniform(-2.0, 2.0, 15)
    X = np.c_[np.ones(15), x, x**2, x**3, x**4, x**5]
    y = 1.0 + 2.0 * x + rng.normal(0.0, 1.0, size=15)
    return X, y


@pytest.mark.points(1)
@pytest.mark.tags("choose_ridge_lambda")
def test_choose_ridge_lambda_polynomial(student, reference):
    """choose_ridge_lambda for a degree-5 polynomial fit to a noisy line, 15 examples, k = 5"""
    X, y = noisy_line()
    compare(student, reference, "choose_ridge_lambda", X, y, [0.0, 0.01, 0.1, 1.0, 10.0, 100.0])
