"""Hidden tests of search.py: edge cases, properties of the random parts, call counts, tie rules.

Random splits and searches are checked by their properties (partition, sizes, bounds, spread,
seeding), never by exact indices. ``fit``, ``error`` and ``objective`` are trusted callables that
record their calls. ``choose_ridge_lambda`` runs with the reference ``ridge_fit``,
``cross_validate`` and ``k_fold_indices`` standing in for the student's.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.testing import (
    StudentFailure,
    as_array,
    as_scalar,
    compare,
    expect_unchanged,
    messages,
    summarize,
)

CHECK = "`{name}`: {what}.\n  input:    {inputs}\n  expected: {expected}\n  got:      {got}\n"


def failure(name, what, inputs, expected, got, category):
    return StudentFailure(
        CHECK.format(name=name, what=what, inputs=inputs, expected=expected, got=got),
        category=category,
    )


def parts(name, got, names):
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
    arr = as_array(name, got)
    if arr.ndim != 1 or (arr.dtype.kind == "f" and not np.all(arr == np.round(arr))):
        raise StudentFailure(
            messages.WRONG_TYPE.format(
                name=name, expected=f"{what} as a 1-d array of integer indices", got=summarize(arr)
            ),
            category="wrong type",
        )
    return arr.astype(int)


def is_number(x):
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


# == train_val_test_split ========================================================================


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


def rounded(x):
    """round(x), either way for an exact half (the spec accepts both)."""
    return {math.floor(x + 0.5), math.ceil(x - 0.5)}


def check_split(student, N, val_frac, test_frac, seed=0):
    train, val, test = split(student, N, val_frac=val_frac, test_frac=test_frac, seed=seed)
    inputs = f"N={N}, val_frac={val_frac}, test_frac={test_frac}, seed={seed}"
    everything = np.concatenate([train, val, test]).tolist()
    if sorted(everything) != list(range(N)):
        raise failure(
            "train_val_test_split",
            f"the three sets must be disjoint and together cover range({N})",
            inputs,
            f"each of 0..{N - 1} exactly once",
            f"{len(everything)} indices, {len(set(everything))} distinct",
            "not a partition",
        )
    ok_val, ok_test = rounded(N * val_frac), rounded(N * test_frac)
    if len(val) not in ok_val or len(test) not in ok_test:
        raise failure(
            "train_val_test_split",
            "round(N * val_frac) validation and round(N * test_frac) test indices",
            inputs,
            f"{' or '.join(map(str, sorted(ok_val)))} validation and "
            f"{' or '.join(map(str, sorted(ok_test)))} test indices",
            f"{len(val)} and {len(test)}",
            "wrong set sizes",
        )
    return train, val, test


@pytest.mark.points(0.5)
@pytest.mark.tags("train_val_test_split")
@pytest.mark.parametrize(
    ("N", "val_frac", "test_frac"), [(9, 0.2, 0.2), (23, 0.3, 0.1), (50, 0.2, 0.2), (5, 0.3, 0.1)]
)
def test_split_sizes_and_partition(student, N, val_frac, test_frac):
    """train_val_test_split: disjoint, covering, round(N * frac) validation and test indices"""
    check_split(student, N, val_frac, test_frac)


@pytest.mark.points(1)
@pytest.mark.tags("train_val_test_split")
@settings(max_examples=20)
@given(
    N=st.integers(1, 80),
    val_frac=st.floats(0.0, 0.45),
    test_frac=st.floats(0.0, 0.45),
    seed=st.integers(0, 2**16),
)
def test_split_properties(student, N, val_frac, test_frac, seed):
    """train_val_test_split partitions range(N) with the right sizes for any N, fractions and seed"""
    check_split(student, N, val_frac, test_frac, seed)


@pytest.mark.points(1)
@pytest.mark.tags("train_val_test_split")
def test_split_is_shuffled(student):
    """train_val_test_split shuffles: no set is a run of consecutive indices"""
    sets = split(student, 60, val_frac=0.2, test_frac=0.2)
    for what, idx in zip(("train", "validation", "test"), sets, strict=True):
        ordered = sorted(idx.tolist())
        if ordered and ordered == list(range(ordered[0], ordered[0] + len(ordered))):
            raise failure(
                "train_val_test_split",
                "the indices must be shuffled with np.random.default_rng(seed) before splitting",
                "N=60, val_frac=0.2, test_frac=0.2",
                "a random split",
                f"the {what} set is {ordered[0]}..{ordered[-1]}, a run of consecutive indices",
                "not shuffled",
            )


@pytest.mark.points(0.5)
@pytest.mark.tags("train_val_test_split")
def test_split_default_seed_is_zero(student):
    """train_val_test_split without a seed is the split of seed = 0"""
    default = split(student, 25)
    zero = split(student, 25, seed=0)
    if any(a.tolist() != b.tolist() for a, b in zip(default, zero, strict=True)):
        raise failure(
            "train_val_test_split",
            "the default seed is 0: leaving it out must give the split of seed=0",
            "N=25",
            f"test={zero[2].tolist()}",
            f"test={default[2].tolist()}",
            "wrong default seed",
        )


# == k_fold_indices ==============================================================================


def folds(student, N, k):
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


def check_folds(student, N, k):
    got = folds(student, N, k)
    expected = np.array_split(np.arange(N), k)
    for i, ((train, val), exp_val) in enumerate(zip(got, expected, strict=True)):
        exp_train = sorted(set(range(N)) - set(exp_val.tolist()))
        if val.tolist() != exp_val.tolist() or sorted(train.tolist()) != exp_train:
            raise failure(
                "k_fold_indices",
                f"pair {i} is wrong: the validation folds are np.array_split(np.arange(N), k) in "
                "order (consecutive; the first N % k folds one longer) and train is the rest",
                f"N={N}, k={k}",
                f"train={summarize(np.array(exp_train))}, val={summarize(exp_val)}",
                f"train={summarize(train)}, val={summarize(val)}",
                "wrong folds",
            )


@pytest.mark.points(0.5)
@pytest.mark.tags("k_fold_indices")
@pytest.mark.parametrize(("N", "k"), [(10, 3), (7, 7), (12, 4), (11, 2)])
def test_k_fold_pairs(student, N, k):
    """k_fold_indices: (train, val) pairs, val folds = np.array_split(arange(N), k)"""
    check_folds(student, N, k)


@pytest.mark.points(1)
@pytest.mark.tags("k_fold_indices")
@settings(max_examples=20)
@given(data=st.data(), N=st.integers(2, 40))
def test_k_fold_properties(student, data, N):
    """k_fold_indices: for any N and k the folds are disjoint, cover range(N), sizes differ by at most 1"""
    k = data.draw(st.integers(2, min(N, 8)), label="k")
    check_folds(student, N, k)


# == cross_validate ==============================================================================


def mean_model(X_train, y_train):
    """fit: the model is the mean of y_train"""
    return float(np.mean(y_train))


def squared_error(model, X_val, y_val):
    """error: mean of (y_val - model)**2 (model: a number or a weight vector)"""
    y_val = np.asarray(y_val, dtype=float)
    model = np.asarray(model, dtype=float)
    prediction = np.asarray(X_val, dtype=float) @ model if model.ndim else model
    return float(np.mean((y_val - prediction) ** 2))


def least_squares(X_train, y_train):
    """fit: least-squares weights (an array)"""
    X_train, y_train = np.asarray(X_train, dtype=float), np.asarray(y_train, dtype=float)
    return np.linalg.lstsq(X_train, y_train, rcond=None)[0]


def _cv_data():
    rng = np.random.default_rng(8)
    X = np.c_[np.ones(9), rng.normal(size=(9, 2))]
    return X, X @ np.array([0.5, -1.0, 2.0]) + rng.normal(size=9)


@pytest.mark.points(0.5)
@pytest.mark.tags("cross_validate")
@pytest.mark.parametrize(
    ("fit", "k"),
    [(mean_model, 2), (mean_model, 9), (least_squares, 4)],
    ids=["mean-k2", "mean-loo", "lstsq-k4"],
)
def test_cross_validate_reference(student, reference, fit, k):
    """cross_validate equals the reference (mean model, k = 2 and leave-one-out; least squares, k = 4)"""
    X, y = _cv_data()
    compare(student, reference, "cross_validate", fit, squared_error, X, y, k)


class Recorder:
    """fit and error that record their calls; fit returns a model number, error a fold's score."""

    def __init__(self):
        self.fits, self.errors, self.returned = [], [], []

    def fit(self, X_train, y_train):
        self.fits.append(rows(X_train, y_train))
        return float(len(self.fits))

    def error(self, model, X_val, y_val):
        self.errors.append((model, rows(X_val, y_val)))
        score = float(len(self.errors) ** 2)  # every fold a different score
        self.returned.append(score)
        return score


def rows(X, y):
    """The example numbers of these rows (column 0 of X), or None if y does not belong to them."""
    ids = np.asarray(X, dtype=float).reshape(len(X), -1)[:, 0]
    if not np.array_equal(np.asarray(y, dtype=float), 10.0 * ids):
        return None
    return sorted(ids.astype(int).tolist())


@pytest.mark.points(1.5)
@pytest.mark.tags("cross_validate")
@settings(max_examples=12)
@given(data=st.data(), N=st.integers(3, 20))
def test_cross_validate_calls(student, data, N):
    """cross_validate: k fits on the training folds, k errors on the validation folds, the mean of the k errors"""
    k = data.draw(st.integers(2, min(N, 6)), label="k")
    X = np.c_[np.arange(float(N)), np.ones(N)]  # column 0: the example's number
    y = 10.0 * np.arange(float(N))
    rec = Recorder()
    got = as_scalar("cross_validate", student.cross_validate(rec.fit, rec.error, X, y, k))
    inputs = f"N={N}, k={k}, X[:, 0] = the example's number, y = 10 * that number"
    val_folds = [f.tolist() for f in np.array_split(np.arange(N), k)]
    train_folds = [sorted(set(range(N)) - set(f)) for f in val_folds]
    if len(rec.fits) != k or sorted(map(str, rec.fits)) != sorted(map(str, train_folds)):
        raise failure(
            "cross_validate",
            "fit must be called once per fold, with X[train_idx], y[train_idx] of that fold",
            inputs,
            f"{k} calls, on the rows {train_folds}",
            f"{len(rec.fits)} calls, on the rows {rec.fits}",
            "wrong training data",
        )
    for model, ids in rec.errors:
        fitted = None
        if is_number(model) and float(model).is_integer() and 1 <= model <= len(rec.fits):
            fitted = rec.fits[int(model) - 1]
        if ids not in val_folds or fitted != train_folds[val_folds.index(ids)]:
            raise failure(
                "cross_validate",
                "error must get the model fit on the other folds, and X[val_idx], y[val_idx]",
                inputs,
                f"error(model, X_val, y_val) on the validation folds {val_folds}, each with the "
                "model fit on the rest",
                f"error on the rows {ids} with a model fit on {fitted}",
                "wrong validation data",
            )
    if len(rec.errors) != k or not math.isclose(got, float(np.mean(rec.returned)), rel_tol=1e-9):
        raise failure(
            "cross_validate",
            "error must be called once per fold, and the result is the mean of the k errors",
            inputs,
            f"{k} calls; the mean of what error returned",
            f"{len(rec.errors)} calls returning {rec.returned}; result {got!r}",
            "wrong mean",
        )


@pytest.mark.points(0.5)
@pytest.mark.tags("cross_validate")
def test_cross_validate_leaves_inputs(student):
    """cross_validate leaves X and y unchanged"""
    X, y = _cv_data()
    student.cross_validate(least_squares, squared_error, X, y, 3)
    expect_unchanged("cross_validate", student.mutated, ("fit", "error", "X", "y", "k"))


# == grid_search =================================================================================


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


@pytest.mark.points(1)
@pytest.mark.tags("grid_search")
def test_grid_search_ties_in_product_order(student):
    """grid_search: on a tie the first combination in itertools.product order wins"""
    grid = {"reg": [1.0, 2.0], "lr": [0.5, 0.1]}
    tied = {(1.0, 0.1), (2.0, 0.5)}
    objective = Objective(lambda p: 0.0 if (p["reg"], p["lr"]) in tied else 1.0)
    params, value = best_pair("grid_search", student.grid_search(objective, grid))
    if params != {"reg": 1.0, "lr": 0.1} or value != 0.0:
        raise failure(
            "grid_search",
            "two combinations tie at 0; the first in itertools.product(grid['reg'], grid['lr']) "
            "order (the grid's own order of names) must win",
            f"grid={grid}, objective 0 at (reg, lr) = (1.0, 0.1) and (2.0, 0.5), else 1",
            "({'reg': 1.0, 'lr': 0.1}, 0.0)",
            f"({params}, {value!r})",
            "wrong tie-break",
        )


@st.composite
def grids(draw):
    """A grid of 1 to 3 names with 1 to 4 distinct values each, and a table of values with ties."""
    names = draw(
        st.lists(
            st.sampled_from(["lr", "reg", "mom", "width"]), min_size=1, max_size=3, unique=True
        )
    )
    grid = {
        name: draw(
            st.lists(
                st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 10.0]),
                min_size=1,
                max_size=4,
                unique=True,
            )
        )
        for name in names
    }
    size = math.prod(len(v) for v in grid.values())
    table = draw(st.lists(st.integers(-3, 3), min_size=size, max_size=size))
    return grid, table


@pytest.mark.points(1.5)
@pytest.mark.tags("grid_search")
@settings(max_examples=15)
@given(case=grids())
def test_grid_search_properties(student, case):
    """grid_search: every combination exactly once, the least value, ties to the first in product order"""
    import itertools

    grid, table = case
    combos = list(itertools.product(*grid.values()))
    values = dict(zip(combos, table, strict=True))
    objective = Objective(lambda p: float(values[tuple(p[name] for name in grid)]))
    params, value = best_pair("grid_search", student.grid_search(objective, grid))
    inputs = f"grid={grid}, objective values {table} in itertools.product order"
    seen = sorted(tuple(c.get(name) for name in grid) for c in objective.calls)
    if seen != sorted(combos) or any(set(c) != set(grid) for c in objective.calls):
        raise failure(
            "grid_search",
            "objective(**params) must be called exactly once for each combination, "
            "with every name of the grid",
            inputs,
            f"{len(combos)} calls: {combos}",
            f"{len(objective.calls)} calls: {[dict(c) for c in objective.calls]}",
            "wrong combinations",
        )
    first = combos[int(np.argmin(table))]
    expected = dict(zip(grid, first, strict=True))
    if params != expected or value != min(table):
        raise failure(
            "grid_search",
            "the least value, and on a tie the first such combination in itertools.product order",
            inputs,
            f"({expected}, {float(min(table))})",
            f"({params}, {value!r})",
            "wrong best",
        )


# == random_search ===============================================================================


def search(student, space, num_iters, objective, **kwargs):
    got = student.random_search(objective, space, num_iters, **kwargs)
    return best_pair("random_search", got)


def samples(objective, name):
    xs = [c.get(name) for c in objective.calls]
    if not all(is_number(x) for x in xs):
        bad = next(x for x in xs if not is_number(x))
        raise failure(
            "random_search",
            f"each call must pass {name} as a number",
            f"{name} in the search space",
            "a float",
            f"{summarize(bad)}" if bad is not None else f"no {name} in the call",
            "wrong type",
        )
    return np.array(xs, dtype=float)


def within(x, low, high):
    slack = 1e-12 * max(abs(low), abs(high))
    return bool(np.all((x >= low - slack) & (x <= high + slack)))


@pytest.mark.points(1)
@pytest.mark.tags("random_search")
def test_random_search_log_uniform(student):
    """random_search on a log scale: samples spread evenly over the decades, within bounds"""
    objective = Objective(lambda p: p["lr"])
    search(student, {"lr": (1e-5, 1e-1, "log")}, 400, objective, seed=3)
    x = samples(objective, "lr")
    below = float(np.mean(x < 1e-3))  # the geometric midpoint
    low_decade = float(np.mean(x < 1e-4))
    if not within(x, 1e-5, 1e-1) or not 0.4 < below < 0.6 or not 0.15 < low_decade < 0.35:
        raise failure(
            "random_search",
            "log-uniform samples are uniform in log(x): each decade of [1e-5, 1e-1] gets about a "
            "quarter of them, and all lie within the bounds",
            "space={'lr': (1e-5, 1e-1, 'log')}, num_iters=400",
            "fraction below 1e-3 about 0.5, below 1e-4 about 0.25",
            f"{below:.2f} and {low_decade:.2f} (min {x.min():.3g}, max {x.max():.3g})",
            "not log-uniform",
        )


@pytest.mark.points(0.5)
@pytest.mark.tags("random_search")
def test_random_search_linear_uniform(student):
    """random_search on a linear scale: samples spread evenly between low and high"""
    objective = Objective(lambda p: p["x"])
    search(student, {"x": (-2.0, 6.0, "linear")}, 300, objective, seed=1)
    x = samples(objective, "x")
    below = float(np.mean(x < 2.0))
    quarter = float(np.mean(x < 0.0))
    if not within(x, -2.0, 6.0) or not 0.4 < below < 0.6 or not 0.15 < quarter < 0.35:
        raise failure(
            "random_search",
            "linear samples are uniform between low and high",
            "space={'x': (-2.0, 6.0, 'linear')}, num_iters=300",
            "all in [-2, 6]; fraction below 2 about 0.5, below 0 about 0.25",
            f"{below:.2f} and {quarter:.2f} (min {x.min():.3g}, max {x.max():.3g})",
            "not uniform",
        )


SPACE = {"lr": (1e-4, 1e-1, "log"), "reg": (0.0, 0.5, "linear"), "momentum": (0.5, 0.99, "linear")}


@pytest.mark.points(1)
@pytest.mark.tags("random_search")
def test_random_search_several_names(student):
    """random_search with three hyperparameters: each sampled within its own bounds, independently"""
    objective = Objective(lambda p: p["reg"])
    search(student, SPACE, 200, objective, seed=5)
    inputs = f"space={SPACE}, num_iters=200"
    names = [sorted(c) for c in objective.calls]
    if any(n != sorted(SPACE) for n in names):
        raise failure(
            "random_search",
            "every call must pass each name of the space once",
            inputs,
            f"objective(**params) with the names {sorted(SPACE)}",
            f"a call with the names {next(n for n in names if n != sorted(SPACE))}",
            "wrong names",
        )
    drawn = {name: samples(objective, name) for name in SPACE}
    for name, (low, high, _) in SPACE.items():
        if not within(drawn[name], low, high):
            raise failure(
                "random_search",
                f"every value of {name} must lie within its own bounds",
                inputs,
                f"{name} in [{low}, {high}]",
                f"{name} from {drawn[name].min():.4g} to {drawn[name].max():.4g}",
                "out of bounds",
            )
    unit = {
        "lr": np.log(drawn["lr"] / 1e-4) / np.log(1e3),
        "reg": drawn["reg"] / 0.5,
        "momentum": (drawn["momentum"] - 0.5) / 0.49,
    }
    for a, b in (("lr", "reg"), ("lr", "momentum"), ("reg", "momentum")):
        r = float(np.corrcoef(unit[a], unit[b])[0, 1])
        if not abs(r) < 0.3:
            raise failure(
                "random_search",
                "each hyperparameter needs its own random draw (a fresh sample per name)",
                inputs,
                f"{a} and {b} uncorrelated",
                f"correlation {r:.2f} between {a} and {b} (on their scales)",
                "samples not independent",
            )


@pytest.mark.points(1)
@pytest.mark.tags("random_search")
def test_random_search_ties_go_to_the_earliest(student):
    """random_search: when several evaluations tie for the least value, the earliest wins"""
    objective = Objective(lambda p: float(round(p["x"])))
    params, value = search(student, {"x": (0.0, 1.0, "linear")}, 30, objective, seed=2)
    x = samples(objective, "x")
    first = int(np.argmin(np.round(x)))
    if params != {"x": x[first]} or value != 0.0:
        raise failure(
            "random_search",
            "objective = round(x) is 0 for every x below 0.5; the earliest of them must win",
            "space={'x': (0.0, 1.0, 'linear')}, num_iters=30",
            f"({{'x': {x[first]!r}}}, 0.0) (evaluation {first})",
            f"({params}, {value!r})",
            "wrong tie-break",
        )


@pytest.mark.points(0.5)
@pytest.mark.tags("random_search")
def test_random_search_follows_the_seed(student):
    """random_search: the same seed gives the same samples, another seed others; the default seed is 0"""
    space = {"a": (1e-3, 1.0, "log"), "b": (-1.0, 1.0, "linear")}
    runs = {}
    for label, kwargs in (
        ("seed=4", {"seed": 4}),
        ("seed=4 again", {"seed": 4}),
        ("seed=9", {"seed": 9}),
        ("seed=0", {"seed": 0}),
        ("no seed", {}),
    ):
        objective = Objective(lambda p: p["a"])
        search(student, space, 6, objective, **kwargs)
        runs[label] = [tuple(sorted(c.items())) for c in objective.calls]
    checks = (
        ("seed=4", "seed=4 again", True, "two runs with seed=4 must sample the same values"),
        ("seed=4", "seed=9", False, "seed=4 and seed=9 must sample different values"),
        ("seed=0", "no seed", True, "leaving the seed out must sample what seed=0 samples"),
    )
    for a, b, equal, what in checks:
        if (runs[a] == runs[b]) != equal:
            raise failure(
                "random_search",
                f"{what} (sample with rng = np.random.default_rng(seed), nothing else random)",
                f"space={space}, num_iters=6",
                "the same samples" if equal else "different samples",
                f"first evaluation {dict(runs[a][0]) if runs[a] else None} with {a}, "
                f"{dict(runs[b][0]) if runs[b] else None} with {b}",
                "seeding",
            )


@st.composite
def spaces(draw):
    space = {}
    for name in draw(
        st.lists(st.sampled_from(["lr", "reg", "width"]), min_size=1, max_size=2, unique=True)
    ):
        scale = draw(st.sampled_from(["linear", "log"]))
        if scale == "log":
            low = 10.0 ** draw(st.integers(-6, 0))
            high = low * 10.0 ** draw(st.integers(1, 4))
        else:
            low = draw(st.sampled_from([-5.0, -1.5, 0.25, 2.0, 10.0]))
            high = low + draw(st.sampled_from([0.5, 1.0, 3.0, 10.0]))
        space[name] = (low, high, scale)
    return space


@pytest.mark.points(1)
@pytest.mark.tags("random_search")
@settings(max_examples=15)
@given(space=spaces(), num_iters=st.integers(1, 12), seed=st.integers(0, 1000))
def test_random_search_properties(student, space, num_iters, seed):
    """random_search: num_iters evaluations within bounds, the least value returned, for any space"""
    name = next(iter(space))
    objective = Objective(lambda p: -abs(float(p[name]) - 0.7))
    params, value = search(student, space, num_iters, objective, seed=seed)
    inputs = f"space={space}, num_iters={num_iters}, seed={seed}, objective = -|{name} - 0.7|"
    if len(objective.calls) != num_iters:
        raise failure(
            "random_search",
            "objective must be evaluated exactly num_iters times",
            inputs,
            num_iters,
            len(objective.calls),
            "wrong number of evaluations",
        )
    for n, (low, high, _) in space.items():
        if not within(samples(objective, n), low, high):
            raise failure(
                "random_search",
                f"every value of {n} must lie within its bounds",
                inputs,
                f"{n} in [{low}, {high}]",
                summarize(samples(objective, n)),
                "out of bounds",
            )
    values = [-abs(float(c[name]) - 0.7) for c in objective.calls]
    best = int(np.argmin(values))
    if params != objective.calls[best] or value != values[best]:
        raise failure(
            "random_search",
            "it must return the params of the evaluation with the least value, and that value",
            inputs,
            f"({objective.calls[best]}, {values[best]!r})",
            f"({params}, {value!r})",
            "wrong best",
        )


# == choose_ridge_lambda =========================================================================


def _ridge_data(seed, n=12):
    rng = np.random.default_rng(seed)
    X = np.c_[np.ones(n), rng.normal(size=(n, 3))]
    y = X @ np.array([1.0, 2.0, -1.0, 0.5]) + rng.normal(size=n) * 2.0
    return X, y


def cv_errors(reference, X, y, lams, k):
    """The reference's k-fold validation MSE of ridge_fit for each lam."""

    def error(w, X_val, y_val):
        return float(np.mean((X_val @ w - y_val) ** 2))

    return [
        reference.cross_validate(
            lambda A, b, lam=lam: reference.ridge_fit(A, b, lam), error, X, y, k
        )
        for lam in lams
    ]


def expect_best_lambda(student, reference, X, y, lams, k, shown):
    """The chosen lam has the least CV error (near-ties within rounding: any of them; exact ties:
    the smallest)."""
    got = as_scalar("choose_ridge_lambda", student.choose_ridge_lambda(X, y, list(lams), k=k))
    errors = cv_errors(reference, X, y, lams, k)
    least = min(errors)
    near = [
        lam for lam, e in zip(lams, errors, strict=True) if e <= least + 1e-9 * abs(least) + 1e-12
    ]
    tied = [lam for lam, e in zip(lams, errors, strict=True) if e == least]
    ok = [min(tied)] if len(near) == len(tied) else near
    if not any(math.isclose(got, lam, rel_tol=1e-12, abs_tol=0.0) for lam in ok):
        table = ", ".join(f"{lam:g}: {e:.6g}" for lam, e in zip(lams, errors, strict=True))
        raise failure(
            "choose_ridge_lambda",
            "it must return the lam with the least mean validation error over the k folds "
            "(ties: the smallest lam)",
            shown,
            f"{ok[0]:g} (mean validation errors {table})",
            f"{got:g}",
            "wrong lambda",
        )


@pytest.mark.points(1)
@pytest.mark.tags("choose_ridge_lambda")
def test_choose_ridge_lambda_tie_goes_to_the_smallest(student):
    """choose_ridge_lambda: when every lam gives the same error (y = 0), the smallest lam"""
    X, _ = _ridge_data(1)
    got = as_scalar(
        "choose_ridge_lambda", student.choose_ridge_lambda(X, np.zeros(12), [10.0, 0.5, 2.0], k=3)
    )
    if got != 0.5:
        raise failure(
            "choose_ridge_lambda",
            "every lam fits w = 0 and has validation error 0: the tie goes to the smallest lam",
            "12 examples with y = 0, lams=[10.0, 0.5, 2.0], k=3",
            0.5,
            got,
            "wrong tie-break",
        )


@pytest.mark.points(0.5)
@pytest.mark.tags("choose_ridge_lambda")
@pytest.mark.parametrize("k", [3, 4])
def test_choose_ridge_lambda_uses_k(student, reference, k):
    """choose_ridge_lambda with k = 3 and k = 4 folds (the default 5 chooses another lam here)"""
    X, y = _ridge_data(1)
    compare(student, reference, "choose_ridge_lambda", X, y, [100.0, 0.01, 3.0, 1000.0], k=k)


@pytest.mark.points(0.5)
@pytest.mark.tags("choose_ridge_lambda")
def test_choose_ridge_lambda_default_k(student, reference):
    """choose_ridge_lambda without k uses 5 folds"""
    X, y = _ridge_data(1)
    compare(student, reference, "choose_ridge_lambda", X, y, [100.0, 0.01, 3.0, 1000.0])


@pytest.mark.points(1)
@pytest.mark.tags("choose_ridge_lambda")
@settings(max_examples=10)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(6, 16),
    lams=st.lists(
        st.sampled_from([0.001, 0.1, 1.0, 5.0, 30.0, 1e3]), min_size=1, max_size=4, unique=True
    ),
    data=st.data(),
)
def test_choose_ridge_lambda_least_error(student, reference, seed, n, lams, data):
    """choose_ridge_lambda returns the lam of least k-fold validation error, for any data and lams"""
    k = data.draw(st.integers(2, min(n, 6)), label="k")
    X, y = _ridge_data(seed, n)
    expect_best_lambda(
        student, reference, X, y, lams, k, f"{n} random examples, lams={lams}, k={k}"
    )
