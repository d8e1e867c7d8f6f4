"""Hidden tests for known bugs (tests/grading/bugs.py) that the other suites did not catch.

Added by the single-bug corpus (tests/toolkit/test_bug_corpus.py), which proves each of them
catches the bugs named in its comment, and that the reference and the correct-but-unusual
variants (tests/corpus/variants) still get full marks. When the optim, schedules and search
suites cover a bug, its test here may go.
"""

import math

import numpy as np
import pytest

from grader.checks import StudentFailure, as_array, as_scalar, compare, summarize

# == optim ====================================================================================


@pytest.mark.points(1)
@pytest.mark.tags("adam_step")
def test_adam_tiny_gradients(student, reference):
    """adam_step with gradients near eps (where eps belongs: after the square root)"""
    # bug adam-eps-inside-sqrt: sqrt(v_hat + eps) differs from sqrt(v_hat) + eps when |dw| ~ 1e-6
    rng = np.random.default_rng(11)
    w = rng.normal(size=5)
    dw = rng.normal(size=5) * 1e-6
    m, v = dw * 0.5, dw**2 * 0.5
    compare(student, reference, "adam_step", w, dw, m, v, 4, lr=0.01, parts=("w", "m", "v"))


def _softmax_loss(W, Xb, yb):
    """softmax cross-entropy of X_batch @ W"""
    W, Xb, yb = np.asarray(W, float), np.asarray(Xb, float), np.asarray(yb).astype(int)
    s = Xb @ W
    s = s - s.max(axis=1, keepdims=True)
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    rows = np.arange(len(yb))
    loss = float(-np.mean(np.log(p[rows, yb])))
    p[rows, yb] -= 1
    return loss, Xb.T @ p / len(yb)


def _data():
    rng = np.random.default_rng(5)
    return rng.normal(size=(16, 3)), rng.integers(0, 3, size=16), 0.1 * rng.normal(size=(3, 3))


@pytest.mark.points(1)
@pytest.mark.tags("minibatch_sgd")
def test_minibatch_sgd_momentum(student, reference):
    """minibatch_sgd with rho = 0.5 follows the recipe (velocity fed back from step to step)"""
    # bugs minibatch-velocity-dropped, minibatch-default-rho
    X, y, W0 = _data()
    compare(
        student,
        reference,
        "minibatch_sgd",
        _softmax_loss,
        W0,
        X,
        y,
        0.3,
        4,
        6,
        seed=2,
        rho=0.5,
        parts=("W", "losses"),
    )


def halving_schedule(t):
    """lr_schedule(t) = 0.4 / 2**t"""
    return 0.4 / 2**t


@pytest.mark.points(1)
@pytest.mark.tags("minibatch_sgd")
def test_minibatch_sgd_schedule(student, reference):
    """minibatch_sgd with a learning-rate schedule: step t uses lr_schedule(t), from t = 0"""
    # bug minibatch-schedule-off-by-one
    X, y, W0 = _data()
    compare(
        student,
        reference,
        "minibatch_sgd",
        _softmax_loss,
        W0,
        X,
        y,
        1.0,
        4,
        5,
        seed=4,
        lr_schedule=halving_schedule,
        parts=("W", "losses"),
    )


# == schedules ================================================================================


@pytest.mark.points(0.25)
@pytest.mark.tags("step_decay")
@pytest.mark.parametrize("t", [0, 1, 2, 3, 5, 6, 7])
def test_step_decay_steps(student, reference, t):
    """step_decay(1.0, t, step_size=3, gamma=0.5) equals StepLR's rate"""
    # bugs step-decay-early, step-decay-smooth, step-decay-ceil
    compare(student, reference, "step_decay", 1.0, t, 3, gamma=0.5)


@pytest.mark.points(0.25)
@pytest.mark.tags("cosine_decay")
@pytest.mark.parametrize("t", [0, 3, 5, 10, 12, 20])
def test_cosine_decay_values(student, reference, t):
    """cosine_decay(0.5, t, T=10, lr_min=0.05), before, at and after T"""
    # bugs cosine-not-clamped, cosine-ignores-lr-min, cosine-no-half, cosine-half-period
    compare(student, reference, "cosine_decay", 0.5, t, 10, lr_min=0.05)


# == search ===================================================================================


def _fail(name, what, expected, got, category):
    raise StudentFailure(
        f"`{name}`: {what}\n  expected: {expected}\n  got:      {got}", category=category
    )


def _split(student, N, val_frac, test_frac, seed=0):
    got = student.train_val_test_split(N, val_frac=val_frac, test_frac=test_frac, seed=seed)
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        _fail(
            "train_val_test_split",
            "should return (train_idx, val_idx, test_idx)",
            "3 index arrays",
            repr(type(got)),
            "wrong type",
        )
    return [as_array("train_val_test_split", part).astype(int).ravel() for part in got]


@pytest.mark.points(0.5)
@pytest.mark.tags("train_val_test_split")
@pytest.mark.parametrize("N,val_frac,test_frac", [(9, 0.2, 0.2), (23, 0.3, 0.1), (50, 0.2, 0.2)])
def test_split_sizes_and_partition(student, N, val_frac, test_frac):
    """train_val_test_split: disjoint, covering, round(N * frac) validation and test indices"""
    # bugs split-floor, split-overlap, split-val-size-from-test-frac
    train, val, test = _split(student, N, val_frac, test_frac)
    everything = np.concatenate([train, val, test])
    if sorted(everything.tolist()) != list(range(N)):
        _fail(
            "train_val_test_split",
            f"the three sets must be disjoint and cover range({N})",
            f"each of 0..{N - 1} exactly once",
            f"{len(everything)} indices, {len(set(everything.tolist()))} distinct",
            "not a partition",
        )
    ok_test = {math.floor(N * test_frac + 0.5), math.ceil(N * test_frac - 0.5)}
    ok_val = {math.floor(N * val_frac + 0.5), math.ceil(N * val_frac - 0.5)}
    if len(test) not in ok_test or len(val) not in ok_val:
        _fail(
            "train_val_test_split",
            f"sizes for N={N}, val_frac={val_frac}, test_frac={test_frac}",
            f"{min(ok_val)} validation and {min(ok_test)} test indices (rounded)",
            f"{len(val)} and {len(test)}",
            "wrong set sizes",
        )


@pytest.mark.points(1)
@pytest.mark.tags("train_val_test_split")
def test_split_is_shuffled(student):
    """train_val_test_split shuffles: the test set is not a run of consecutive indices"""
    # bug split-not-shuffled
    _, _, test = _split(student, 60, 0.2, 0.2)
    ordered = sorted(test.tolist())
    if ordered and ordered == list(range(ordered[0], ordered[0] + len(ordered))):
        _fail(
            "train_val_test_split",
            "the indices must be shuffled with default_rng(seed)",
            "a random split",
            f"test={test.tolist()}",
            "not shuffled",
        )


@pytest.mark.points(0.5)
@pytest.mark.tags("k_fold_indices")
@pytest.mark.parametrize("N,k", [(10, 3), (7, 7), (12, 4)])
def test_k_fold_pairs(student, reference, N, k):
    """k_fold_indices: (train, val) pairs, val folds = np.array_split(arange(N), k)"""
    # bugs kfold-remainder-dropped, kfold-remainder-to-last, kfold-val-in-train, kfold-pair-swapped
    got = student.k_fold_indices(N, k)
    if not isinstance(got, (list, tuple)) or len(got) != k:
        _fail(
            "k_fold_indices",
            f"should return a list of k={k} pairs",
            f"{k} pairs",
            repr(got)[:200],
            "wrong type",
        )
    for i, ((train_ref, val_ref), pair) in enumerate(
        zip(reference.k_fold_indices(N, k), got, strict=True)
    ):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            _fail(
                "k_fold_indices",
                f"pair {i} should be (train_idx, val_idx)",
                "a pair",
                repr(pair)[:200],
                "wrong type",
            )
        train = as_array("k_fold_indices", pair[0]).astype(int).ravel()
        val = as_array("k_fold_indices", pair[1]).astype(int).ravel()
        if val.tolist() != val_ref.tolist() or sorted(train.tolist()) != train_ref.tolist():
            _fail(
                "k_fold_indices",
                f"fold {i} of N={N}, k={k} (validation folds are "
                "np.array_split(np.arange(N), k) in order; train is the rest)",
                f"train={summarize(train_ref)}, val={summarize(val_ref)}",
                f"train={summarize(train)}, val={summarize(val)}",
                "wrong folds",
            )


def mean_model(X_train, y_train):
    """fit: the model is the mean of y_train"""
    return float(np.mean(y_train))


def squared_error(model, X_val, y_val):
    """error: mean of (y_val - model)**2"""
    return float(np.mean((np.asarray(y_val, float) - model) ** 2))


@pytest.mark.points(0.5)
@pytest.mark.tags("cross_validate")
@pytest.mark.parametrize("k", [2, 3])
def test_cross_validate_mean_model(student, reference, k):
    """cross_validate of a mean-of-y model, 7 examples"""
    # bugs cv-sum-not-mean, cv-fit-on-validation, cv-error-on-train
    X = np.arange(14.0).reshape(7, 2)
    y = np.arange(7.0) ** 2
    compare(student, reference, "cross_validate", mean_model, squared_error, X, y, k)


class Counting:
    """objective(**params): a fixed table of values; records every call"""

    def __init__(self, table):
        self.table, self.calls = table, []

    def __call__(self, **params):
        self.calls.append(dict(params))
        return self.table(params)


@pytest.mark.points(1)
@pytest.mark.tags("grid_search")
def test_grid_search_every_combination_and_min(student):
    """grid_search tries all 3 x 2 combinations once and returns the least value"""
    # bugs grid-zip-not-product, grid-maximizes
    grid = {"lr": [0.1, 0.01, 0.001], "reg": [0.0, 1.0]}
    objective = Counting(lambda p: (math.log10(p["lr"]) + 2) ** 2 + p["reg"])
    got = student.grid_search(objective, grid)
    seen = sorted((c["lr"], c["reg"]) for c in objective.calls)
    expected = sorted((a, b) for a in grid["lr"] for b in grid["reg"])
    if seen != expected:
        _fail(
            "grid_search",
            "objective(**params) must be called once per combination",
            expected,
            seen,
            "wrong combinations",
        )
    if (
        not isinstance(got, (tuple, list))
        or len(got) != 2
        or dict(got[0]) != {"lr": 0.01, "reg": 0.0}
    ):
        _fail(
            "grid_search",
            "the best combination has the least objective value",
            "({'lr': 0.01, 'reg': 0.0}, 0.0)",
            repr(got)[:200],
            "wrong best",
        )
    if abs(as_scalar("grid_search", got[1])) > 1e-12:
        _fail(
            "grid_search", "best_value is the objective at best_params", 0.0, got[1], "wrong best"
        )


@pytest.mark.points(1)
@pytest.mark.tags("grid_search")
def test_grid_search_ties_in_product_order(student):
    """grid_search: on a tie the first combination in itertools.product order wins"""
    # bug grid-names-sorted
    grid = {"reg": [1.0, 2.0], "lr": [0.5, 0.1]}
    objective = Counting(lambda p: 0.0 if (p["reg"], p["lr"]) in {(1.0, 0.1), (2.0, 0.5)} else 1.0)
    got = student.grid_search(objective, grid)
    if (
        not isinstance(got, (tuple, list))
        or len(got) != 2
        or dict(got[0]) != {"reg": 1.0, "lr": 0.1}
    ):
        _fail(
            "grid_search",
            "two combinations tie at 0; the first in "
            "itertools.product(grid['reg'], grid['lr']) order must win",
            "({'reg': 1.0, 'lr': 0.1}, 0.0)",
            repr(got)[:200],
            "wrong tie-break",
        )


def _random(student, space, num_iters, objective):
    got = student.random_search(objective, space, num_iters, seed=3)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        _fail(
            "random_search",
            "should return (best_params, best_value)",
            "a pair",
            repr(got)[:200],
            "wrong type",
        )
    return got


@pytest.mark.points(1)
@pytest.mark.tags("random_search")
def test_random_search_count_and_best(student):
    """random_search: exactly num_iters evaluations, and the least value seen is returned"""
    # bugs random-one-evaluation-short, random-maximizes
    objective = Counting(lambda p: (p["x"] - 0.3) ** 2)
    got = _random(student, {"x": (0.0, 1.0, "linear")}, 25, objective)
    if len(objective.calls) != 25:
        _fail(
            "random_search",
            "objective must be evaluated exactly num_iters = 25 times",
            25,
            len(objective.calls),
            "wrong number of evaluations",
        )
    values = [(c["x"] - 0.3) ** 2 for c in objective.calls]
    best = int(np.argmin(values))
    if abs(as_scalar("random_search", got[1]) - values[best]) > 1e-12:
        _fail(
            "random_search",
            "best_value must be the least value seen",
            values[best],
            got[1],
            "wrong best",
        )


@pytest.mark.points(1)
@pytest.mark.tags("random_search")
def test_random_search_log_uniform(student):
    """random_search on a log scale: samples spread evenly over the decades, within bounds"""
    # bugs random-log-as-linear, random-log10-then-exp
    objective = Counting(lambda p: p["lr"])
    _random(student, {"lr": (1e-5, 1e-1, "log")}, 400, objective)
    x = np.array([c["lr"] for c in objective.calls])
    below = float(np.mean(x < 1e-3))  # the geometric midpoint
    low_decade = float(np.mean(x < 1e-4))
    if x.min() < 1e-5 or x.max() > 1e-1 or not 0.4 < below < 0.6 or not 0.15 < low_decade < 0.35:
        _fail(
            "random_search",
            "400 log-uniform samples in [1e-5, 1e-1]: about half below 1e-3 "
            "and a quarter in each decade",
            "fraction below 1e-3 about 0.5, below 1e-4 about 0.25",
            f"{below:.2f} and {low_decade:.2f} (min {x.min():.3g}, max {x.max():.3g})",
            "not log-uniform",
        )


def _ridge_data(seed):
    rng = np.random.default_rng(seed)
    X = np.c_[np.ones(12), rng.normal(size=(12, 3))]
    y = X @ np.array([1.0, 2.0, -1.0, 0.5]) + rng.normal(size=12) * 2.0
    return X, y


@pytest.mark.points(1)
@pytest.mark.tags("choose_ridge_lambda")
def test_choose_ridge_lambda_tie_and_best(student, reference):
    """choose_ridge_lambda: least CV error; on a tie (all errors equal) the smallest lam"""
    # bugs ridge-lambda-largest-on-tie, ridge-lambda-maximizes, ridge-lambda-k-ignored
    X, y = _ridge_data(1)
    lams = [100.0, 0.01, 3.0, 1000.0]
    compare(student, reference, "choose_ridge_lambda", X, y, lams, k=3)
    compare(student, reference, "choose_ridge_lambda", X, y, lams, k=4)
    zero_y = np.zeros(12)
    compare(student, reference, "choose_ridge_lambda", X, zero_y, [10.0, 0.5, 2.0], k=3)
