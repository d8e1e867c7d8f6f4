"""Hidden tests for known bugs (tests/grading/bugs.py) that the other suites did not catch.

Added by the single-bug corpus (tests/toolkit/test_bug_corpus.py), which proves each of them
catches the bugs named in its comment, and that the reference and the correct-but-unusual
variants (tests/corpus/variants) still get full marks. When the optim, schedules and search
suites cover a bug, its test here may go.
"""


import numpy as np
import pytest

from grader.checks import compare

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
