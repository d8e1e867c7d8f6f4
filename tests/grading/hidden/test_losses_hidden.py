"""losses.py, hidden: edge cases, stability, immutability and the lecture's quiz properties."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader.testing import (
    StudentFailure,
    as_array,
    as_scalar,
    compare,
    expect_close,
    expect_unchanged,
    messages,
    summarize,
)

RNG = np.random.default_rng(20240501)


def _scores(n, c, scale=3.0):
    return np.round(RNG.normal(0.0, scale, size=(n, c)), 3)


def _labels(n, c):
    return RNG.integers(0, c, size=n)


# Shapes every loss is compared on: N = 1, C = 2, N = C, and a general case.
SHAPES = {"N=1": (1, 4), "C=2": (5, 2), "N=C": (4, 4), "N=6,C=5": (6, 5)}
CASES = {k: (_scores(n, c), _labels(n, c)) for k, (n, c) in SHAPES.items()}
CASES["ties"] = (np.array([[1.0, 1.0, 1.0, 0.0], [2.0, 2.0, -1.0, 2.0]]), np.array([0, 3]))
# Rows of very different magnitude: a global (not per-row) max turns row 0 into 0/0.
MIXED_ROWS = np.array([[20.0, 0.0, 0.0], [1000.0, 0.0, 0.0]])
# Scores up to 1e4; the correct class of row 0 is 2e4 below the best one.
HUGE = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 5e3], [3e3, -2e3, 1e4]])
HUGE_Y = np.array([2, 1, 0])


# -- softmax --------------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.tags("softmax")
def test_softmax_shapes(student, reference):
    """softmax equals the reference (N = 1, C = 2, N = C, larger, ties)"""
    for scores, _ in CASES.values():
        compare(student, reference, "softmax", scores)


@pytest.mark.points(2)
@pytest.mark.tags("softmax")
def test_softmax_stable(student, reference):
    """softmax is finite and correct for scores up to 1e4 and rows of very different size"""
    compare(student, reference, "softmax", HUGE)
    # A global (not per-row) max turns the first row into 0 / 0.
    compare(student, reference, "softmax", MIXED_ROWS)


@pytest.mark.points(1)
@pytest.mark.tags("softmax")
def test_softmax_leaves_input(student):
    """softmax leaves its input unchanged"""
    student.softmax(CASES["N=C"][0])
    expect_unchanged("softmax", student.mutated, ("scores",))


# -- cross-entropy --------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.tags("cross_entropy_loss")
def test_cross_entropy_shapes(student, reference):
    """cross-entropy equals the reference (N = 1, C = 2, N = C, larger, ties)"""
    for case in CASES.values():
        compare(student, reference, "cross_entropy_loss", *case)


@pytest.mark.points(1)
@pytest.mark.tags("cross_entropy_loss")
def test_cross_entropy_stable(student, reference):
    """cross-entropy is finite and correct for scores up to 1e4 and rows of very different size"""
    # The correct class of row 0 is 2e4 below the best: log of a probability gives inf.
    compare(student, reference, "cross_entropy_loss", HUGE, HUGE_Y)
    # A global (not per-row) max turns the first row's log-sum-exp into log(0).
    compare(student, reference, "cross_entropy_loss", MIXED_ROWS, np.array([1, 0]))


@pytest.mark.points(1)
@pytest.mark.tags("cross_entropy_loss")
def test_cross_entropy_leaves_input(student):
    """cross-entropy leaves its inputs unchanged"""
    student.cross_entropy_loss(*CASES["N=C"])
    expect_unchanged("cross_entropy_loss", student.mutated, ("scores", "y"))


# -- hinge ----------------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.tags("svm_loss")
def test_svm_shapes(student, reference):
    """hinge loss equals the reference (N = 1, C = 2, N = C, larger, ties)"""
    for case in CASES.values():
        compare(student, reference, "svm_loss", *case)


@pytest.mark.points(1)
@pytest.mark.tags("svm_loss")
def test_svm_margin(student, reference):
    """hinge loss with non-default margins 0.5 and 3"""
    for margin in (0.5, 3.0):
        compare(student, reference, "svm_loss", *CASES["N=6,C=5"], margin=margin)


@pytest.mark.points(0.5)
@pytest.mark.tags("svm_loss")
def test_svm_huge(student, reference):
    """hinge loss for scores up to 1e4"""
    compare(student, reference, "svm_loss", HUGE, HUGE_Y)


@pytest.mark.points(1)
@pytest.mark.tags("svm_loss")
def test_svm_leaves_input(student):
    """hinge loss leaves its inputs unchanged"""
    student.svm_loss(*CASES["N=C"], margin=2.0)
    expect_unchanged("svm_loss", student.mutated, ("scores", "y", "margin"))


@pytest.mark.points(2)
@pytest.mark.tags("squared_svm_loss")
def test_squared_svm_shapes(student, reference):
    """squared hinge loss equals the reference (N = 1, C = 2, N = C, larger, ties)"""
    for case in CASES.values():
        compare(student, reference, "squared_svm_loss", *case)


@pytest.mark.points(0.5)
@pytest.mark.tags("squared_svm_loss")
def test_squared_svm_margin_and_large(student, reference):
    """squared hinge loss: margin 2.5, and scores up to 100"""
    compare(student, reference, "squared_svm_loss", *CASES["N=6,C=5"], margin=2.5)
    compare(student, reference, "squared_svm_loss", HUGE / 100, HUGE_Y)


@pytest.mark.points(1)
@pytest.mark.tags("squared_svm_loss")
def test_squared_svm_leaves_input(student):
    """squared hinge loss leaves its inputs unchanged"""
    student.squared_svm_loss(*CASES["N=C"])
    expect_unchanged("squared_svm_loss", student.mutated, ("scores", "y"))


# -- penalties ------------------------------------------------------------------------------------

W_CASES = {
    "1-d": np.array([-1.5, 0.0, 2.0, 0.25]),
    "2-d": np.round(RNG.normal(size=(4, 3)), 3),
    "3-d": np.round(RNG.normal(size=(2, 3, 2)), 3),
}


@pytest.mark.points(1)
@pytest.mark.tags("l2_penalty")
def test_l2_shapes(student, reference):
    """L2 penalty equals the reference (any shape)"""
    for W in W_CASES.values():
        compare(student, reference, "l2_penalty", W)


@pytest.mark.points(1)
@pytest.mark.tags("l1_penalty")
def test_l1_shapes(student, reference):
    """L1 penalty equals the reference (any shape)"""
    for W in W_CASES.values():
        compare(student, reference, "l1_penalty", W)


@pytest.mark.points(1)
@pytest.mark.tags("elastic_net_penalty")
def test_elastic_net_beta(student, reference):
    """elastic-net penalty sum(beta * W**2 + |W|) for beta 0, 0.3 and 2"""
    for beta in (0.0, 0.3, 2.0):
        compare(student, reference, "elastic_net_penalty", W_CASES["2-d"], beta)


@pytest.mark.points(1)
@pytest.mark.tags("elastic_net_penalty")
def test_elastic_net_any_shape(student, reference):
    """elastic-net penalty of a 1-d and a 3-d array"""
    compare(student, reference, "elastic_net_penalty", W_CASES["1-d"], 0.7)
    compare(student, reference, "elastic_net_penalty", W_CASES["3-d"], 1.5)


@pytest.mark.points(1)
@pytest.mark.tags("l2_penalty")
def test_l2_leaves_input(student):
    """L2 penalty leaves W unchanged"""
    student.l2_penalty(W_CASES["2-d"])
    expect_unchanged("l2_penalty", student.mutated, ("W",))


@pytest.mark.points(1)
@pytest.mark.tags("l1_penalty")
def test_l1_leaves_input(student):
    """L1 penalty leaves W unchanged"""
    student.l1_penalty(W_CASES["2-d"])
    expect_unchanged("l1_penalty", student.mutated, ("W",))


@pytest.mark.points(1)
@pytest.mark.tags("elastic_net_penalty")
def test_elastic_net_leaves_input(student):
    """elastic-net penalty leaves W unchanged"""
    student.elastic_net_penalty(W_CASES["2-d"], 0.5)
    expect_unchanged("elastic_net_penalty", student.mutated, ("W", "beta"))


# -- ridge ----------------------------------------------------------------------------------------

X_BIAS = np.c_[np.ones(6), np.round(RNG.normal(size=(6, 2)), 3)]
Y_BIAS = np.round(X_BIAS @ np.array([1.0, -2.0, 0.5]) + RNG.normal(0, 0.1, 6), 3)


@pytest.mark.points(1)
@pytest.mark.tags("ridge_fit")
def test_ridge_lams(student, reference):
    """ridge regression with a bias column, lam 0, 0.1 and 10"""
    for lam in (0.0, 0.1, 10.0):
        compare(student, reference, "ridge_fit", X_BIAS, Y_BIAS, lam)


@pytest.mark.points(1)
@pytest.mark.tags("ridge_fit")
def test_ridge_more_features_than_points(student, reference):
    """ridge regression with fewer points than features (N < D), lam 0.3"""
    X = np.round(RNG.normal(size=(3, 5)), 3)
    y = np.array([1.0, -0.5, 2.0])
    compare(student, reference, "ridge_fit", X, y, 0.3)


@pytest.mark.points(1)
@pytest.mark.tags("ridge_fit")
def test_ridge_stationarity(student):
    """ridge solution satisfies X^T (X w - y) + lam w = 0"""
    lam = 2.0
    w = as_array("ridge_fit", student.ridge_fit(X_BIAS, Y_BIAS, lam), (3,)).astype(np.float64)
    residual = X_BIAS.T @ (X_BIAS @ w - Y_BIAS) + lam * w
    expect_close(
        "ridge_fit",
        residual,
        np.zeros(3),
        inputs={"X": X_BIAS, "y": Y_BIAS, "lam": lam},
        atol=1e-6,
        what="X^T (X w - y) + lam * w, the gradient of the objective / 2 at your w",
    )


@pytest.mark.points(1)
@pytest.mark.tags("ridge_fit")
def test_ridge_leaves_input(student):
    """ridge regression leaves X and y unchanged"""
    student.ridge_fit(X_BIAS, Y_BIAS, 0.5)
    expect_unchanged("ridge_fit", student.mutated, ("X", "y", "lam"))


# -- quiz properties (Hypothesis) -----------------------------------------------------------------

_vals = st.floats(-5, 5, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def scores_and_labels(draw, min_c=2):
    n = draw(st.integers(1, 6))
    c = draw(st.integers(min_c, 6))
    s = draw(hnp.arrays(np.float64, (n, c), elements=_vals))
    y = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    return s, y


def _loss(student, name, *args, **kwargs):
    return as_scalar(name, student.call(name, *args, **kwargs))


def _fail_unless(ok, name, prop, s, y, got, expected=None, category="property"):
    if ok:
        return
    inputs = f"scores={summarize(s)}, y={summarize(y)}\n  got: {got!r}"
    if expected is not None:
        inputs += f"\n  expected: {expected!r}"
    raise StudentFailure(
        messages.PROPERTY.format(name=name, prop=prop, inputs=inputs), category=category
    )


@pytest.mark.points(1)
@pytest.mark.tags("cross_entropy_loss")
@settings(max_examples=15)
@given(case=scores_and_labels())
def test_cross_entropy_nonnegative(student, case):
    """cross-entropy is never negative"""
    s, y = case
    got = _loss(student, "cross_entropy_loss", s, y)
    _fail_unless(got >= -1e-12, "cross_entropy_loss", "the loss is >= 0", s, y, got)


@pytest.mark.points(1)
@pytest.mark.tags("cross_entropy_loss")
@settings(max_examples=15)
@given(n=st.integers(1, 6), c=st.integers(2, 10), value=_vals)
def test_cross_entropy_equal_scores(student, n, c, value):
    """cross-entropy equals log C when all scores are equal"""
    s = np.full((n, c), value)
    y = np.arange(n) % c
    got = _loss(student, "cross_entropy_loss", s, y)
    _fail_unless(
        math.isclose(got, math.log(c), rel_tol=1e-6, abs_tol=1e-9),
        "cross_entropy_loss",
        "equal scores give loss log C",
        s,
        y,
        got,
        math.log(c),
    )


@pytest.mark.points(1)
@pytest.mark.tags("cross_entropy_loss")
@settings(max_examples=15)
@given(case=scores_and_labels(), shift=hnp.arrays(np.float64, 6, elements=st.floats(-50, 50)))
def test_cross_entropy_row_shift(student, case, shift):
    """cross-entropy is unchanged when a constant is added to a row"""
    s, y = case
    shifted = s + shift[: s.shape[0], None]
    a = _loss(student, "cross_entropy_loss", s, y)
    b = _loss(student, "cross_entropy_loss", shifted, y)
    _fail_unless(
        math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-5),
        "cross_entropy_loss",
        f"adding a constant to each row (here {summarize(shift[: s.shape[0]])}) leaves the "
        "loss unchanged",
        s,
        y,
        b,
        a,
    )


@pytest.mark.points(1)
@pytest.mark.tags("cross_entropy_loss")
@settings(max_examples=15)
@given(case=scores_and_labels(), bump=st.floats(0.1, 3.0))
def test_cross_entropy_decreases(student, case, bump):
    """cross-entropy decreases when the correct class's score increases"""
    s, y = case
    higher = s.copy()
    higher[0, y[0]] += bump
    a = _loss(student, "cross_entropy_loss", s, y)
    b = _loss(student, "cross_entropy_loss", higher, y)
    _fail_unless(
        b < a,
        "cross_entropy_loss",
        f"raising the correct score of row 0 by {bump:g} lowers the loss (from {a!r})",
        s,
        y,
        b,
    )


@pytest.mark.points(1)
@pytest.mark.tags("cross_entropy_loss")
@settings(max_examples=15)
@given(case=scores_and_labels())
def test_cross_entropy_tends_to_zero(student, case):
    """cross-entropy tends to 0 as the correct score grows"""
    s, y = case
    big = s.copy()
    big[np.arange(len(y)), y] += 60.0
    got = _loss(student, "cross_entropy_loss", big, y)
    _fail_unless(
        0 <= got < 1e-20,
        "cross_entropy_loss",
        "with every correct score 60 above the others the loss is about 0 (below 1e-20)",
        big,
        y,
        got,
    )


@pytest.mark.points(1)
@pytest.mark.tags("svm_loss")
@settings(max_examples=15)
@given(case=scores_and_labels(), margin=st.floats(0.1, 3.0))
def test_svm_nonnegative(student, case, margin):
    """hinge loss is never negative"""
    s, y = case
    got = _loss(student, "svm_loss", s, y, margin=margin)
    _fail_unless(got >= 0, "svm_loss", f"the loss is >= 0 (margin {margin:g})", s, y, got)


@pytest.mark.points(1)
@pytest.mark.tags("svm_loss")
@settings(max_examples=15)
@given(n=st.integers(1, 6), c=st.integers(2, 8), value=_vals, margin=st.floats(0.1, 3.0))
def test_svm_equal_scores(student, n, c, value, margin):
    """hinge loss equals (C - 1) * margin when all scores are equal"""
    s = np.full((n, c), value)
    y = np.arange(n) % c
    got = _loss(student, "svm_loss", s, y, margin=margin)
    _fail_unless(
        math.isclose(got, (c - 1) * margin, rel_tol=1e-6, abs_tol=1e-9),
        "svm_loss",
        f"equal scores give (C - 1) * margin (margin {margin:g})",
        s,
        y,
        got,
        (c - 1) * margin,
    )


def _slack(s, y, margin):
    """Distance of every wrong-class term from its kink (trusted)."""
    rows = np.arange(len(y))
    m = s - s[rows, y][:, None] + margin
    m[rows, y] = -np.inf
    return m


@pytest.mark.points(1)
@pytest.mark.tags("svm_loss")
@settings(max_examples=15)
@given(
    case=scores_and_labels(),
    noise=hnp.arrays(np.float64, (6, 6), elements=st.floats(-1, 1)),
)
def test_svm_small_changes(student, case, noise):
    """hinge loss is unchanged by small changes to scores whose margins already hold"""
    s, y = case
    n, c = s.shape
    m = _slack(s, y, 1.0)
    satisfied = m < 0
    slack = np.min(-m[satisfied & np.isfinite(m)], initial=np.inf)
    assume(np.any(satisfied & np.isfinite(m)) and slack > 1e-3)
    # Nudge only the satisfied wrong-class scores, by less than half the smallest slack.
    eps = min(slack / 2, 0.5)
    changed = s + np.where(satisfied & np.isfinite(m), noise[:n, :c] * eps, 0.0)
    a = _loss(student, "svm_loss", s, y)
    b = _loss(student, "svm_loss", changed, y)
    _fail_unless(
        math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9),
        "svm_loss",
        "changing a wrong-class score that is already more than `margin` below the correct "
        f"one, by less than its slack, leaves the loss unchanged (it was {a!r} before)",
        changed,
        y,
        b,
    )


@pytest.mark.points(1)
@pytest.mark.tags("svm_loss")
@settings(max_examples=15)
@given(case=scores_and_labels(), c=st.floats(1.0, 10.0))
def test_svm_zero_stays_zero(student, case, c):
    """if the hinge loss is 0 for S it is 0 for c * S with c >= 1"""
    s, y = case
    rows = np.arange(len(y))
    # Make every margin hold: the correct score 1.5 above the best wrong one.
    others = s.copy()
    others[rows, y] = -np.inf
    s = s.copy()
    s[rows, y] = others.max(axis=1) + 1.5
    a = _loss(student, "svm_loss", s, y)
    b = _loss(student, "svm_loss", c * s, y)
    _fail_unless(
        a == 0 and b == 0,
        "svm_loss",
        f"all margins hold, so the loss is 0, also after scaling the scores by {c:g} "
        f"(got {a!r} before scaling and {b!r} after)",
        s,
        y,
        (a, b),
    )


@pytest.mark.points(1)
@pytest.mark.tags("svm_loss")
@settings(max_examples=15)
@given(case=scores_and_labels(), margin=st.floats(0.1, 3.0))
def test_svm_all_classes_adds_margin(student, case, margin):
    """summing over all classes (j = y_i included) would add exactly margin"""
    s, y = case
    # Trusted: the sum over *all* classes; the correct class contributes max(0, margin).
    all_classes = float(np.mean(np.sum(np.maximum(0, _all_margins(s, y, margin)), axis=1)))
    got = _loss(student, "svm_loss", s, y, margin=margin)
    _fail_unless(
        math.isclose(got + margin, all_classes, rel_tol=1e-6, abs_tol=1e-8),
        "svm_loss",
        f"your loss + margin equals the sum over all classes ({all_classes!r}); the sum "
        "must skip j == y_i",
        s,
        y,
        got,
        all_classes - margin,
    )


def _all_margins(s, y, margin):
    return s - s[np.arange(len(y)), y][:, None] + margin


_w = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
    elements=_vals,
)


@pytest.mark.points(1)
@pytest.mark.tags("l2_penalty")
@settings(max_examples=15)
@given(W=_w, c=st.floats(-4, 4).filter(lambda v: abs(v) > 1e-3))
def test_l2_scaling(student, W, c):
    """L2 penalty: l2(c W) = c^2 l2(W) and l2 >= 0"""
    a = _loss(student, "l2_penalty", W)
    b = _loss(student, "l2_penalty", c * W)
    ok = a >= 0 and math.isclose(b, c * c * a, rel_tol=1e-6, abs_tol=1e-9)
    if not ok:
        raise StudentFailure(
            messages.PROPERTY.format(
                name="l2_penalty",
                prop=f"l2(c W) = c^2 l2(W) >= 0 (c = {c:g})",
                inputs=f"W={summarize(W)}; got l2(W)={a!r}, l2(c W)={b!r}",
            ),
            category="property",
        )


@pytest.mark.points(1)
@pytest.mark.tags("l1_penalty")
@settings(max_examples=15)
@given(W=_w, c=st.floats(-4, 4).filter(lambda v: abs(v) > 1e-3))
def test_l1_scaling(student, W, c):
    """L1 penalty: l1(c W) = |c| l1(W) and l1 >= 0"""
    a = _loss(student, "l1_penalty", W)
    b = _loss(student, "l1_penalty", c * W)
    ok = a >= 0 and math.isclose(b, abs(c) * a, rel_tol=1e-6, abs_tol=1e-9)
    if not ok:
        raise StudentFailure(
            messages.PROPERTY.format(
                name="l1_penalty",
                prop=f"l1(c W) = |c| l1(W) >= 0 (c = {c:g})",
                inputs=f"W={summarize(W)}; got l1(W)={a!r}, l1(c W)={b!r}",
            ),
            category="property",
        )


@pytest.mark.points(1)
@pytest.mark.tags("elastic_net_penalty")
@settings(max_examples=15)
@given(W=_w, beta=st.floats(0, 3))
def test_elastic_net_nonnegative(student, W, beta):
    """elastic-net penalty is never negative"""
    got = _loss(student, "elastic_net_penalty", W, beta)
    if not got >= 0:
        raise StudentFailure(
            messages.PROPERTY.format(
                name="elastic_net_penalty",
                prop=f"the penalty is >= 0 (beta = {beta:g})",
                inputs=f"W={summarize(W)}; got {got!r}",
            ),
            category="property",
        )
