"""net.py, hidden: edge shapes, torch autograd, finite differences, stability, regularization."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader.testing import (
    StudentFailure,
    as_array,
    as_scalar,
    expect_close,
    expect_unchanged,
    fail_property,
    summarize,
    summarize_inputs,
    torch_value_and_grads,
    with_hint,
)

NAME = "two_layer_loss"
KEYS = ("W1", "b1", "W2", "b2")
RNG = np.random.default_rng(31415)


def _params(d, h, c, scale=1.0):
    return {
        "W1": np.round(RNG.normal(0, scale, (d, h)), 3),
        "b1": np.round(RNG.normal(0, 0.5, h), 3),
        "W2": np.round(RNG.normal(0, scale, (h, c)), 3),
        "b2": np.round(RNG.normal(0, 0.5, c), 3),
    }


def _case(n, d, h, c):
    X = np.round(RNG.normal(0, 1, (n, d)), 3)
    return X, RNG.integers(0, c, n), _params(d, h, c)


def _hidden(X, params):
    """The hidden layer's input X @ W1 + b1 (trusted)."""
    return X @ params["W1"] + params["b1"]


# N = 1, a single hidden unit, two classes, N = C, and a general case; each has hidden units
# that are off (negative before the ReLU) for some example, none within 1e-3 of 0.
CASES = {
    "N=1": _case(1, 3, 4, 3),
    "H=1": _case(6, 2, 1, 3),
    "C=2": _case(5, 3, 4, 2),
    "N=C": _case(4, 3, 5, 4),
    "N=8,D=4,H=6,C=3": _case(8, 4, 6, 3),
}
CASES["H=1"][2]["b1"][:] = 0.25  # the single unit is on for some examples, off for others
assert all(np.any(_hidden(X, p) < 0) for X, _, p in CASES.values())
assert all(np.min(np.abs(_hidden(X, p))) > 1e-3 for X, _, p in CASES.values())
assert np.any(_hidden(*CASES["H=1"][::2]) > 0)
# Scores of several thousand: exp of them overflows unless each row is shifted first.
LARGE = (CASES["N=C"][0], CASES["N=C"][1], {**CASES["N=C"][2], "W2": 2e3 * CASES["N=C"][2]["W2"]})


def _inputs(X, y, params, reg):
    return {"X": X, "y": y, **params, "reg": reg}


def _copy(params):
    return {k: v.copy() for k, v in params.items()}


def student_loss_and_grads(student, X, y, params, reg):
    """The student's ``(loss, grads)``, checked to be a number and a dict of the four keys."""
    got = student.call(NAME, X, y, params, reg)
    if not isinstance(got, (tuple, list)) or len(got) != 2 or not isinstance(got[1], dict):
        raise StudentFailure(
            f"`{NAME}` should return a tuple (loss, grads) with grads a dict, but returned "
            + summarize(got)[:80],
            category="wrong type",
        )
    missing = [k for k in KEYS if k not in got[1]]
    if missing:
        raise StudentFailure(
            f"`{NAME}` returned grads without the key(s) {', '.join(missing)}: grads needs one "
            "entry per parameter, with the keys of params",
            category="missing gradient",
        )
    return as_scalar(NAME, got[0]), got[1], got


def check_loss_and_grads(got, expected, X, y, params, reg, against, rtol=None, atol=None):
    """The student's loss and every gradient against ``expected`` = (loss, grads).

    A failure's category (what a student sees of a hidden test) names the part that is wrong
    and the oracle, never the input.
    """
    loss, grads, raw = got
    inputs = _inputs(X, y, params, reg)
    part = "loss"
    try:
        expect_close(NAME, loss, expected[0], inputs=inputs, what=f"loss, vs {against}")
        for part in KEYS:
            g = as_array(NAME, grads[part], params[part].shape)
            expect_close(
                NAME,
                g,
                expected[1][part],
                inputs=inputs,
                kind="grad",
                what=f"grads['{part}'], vs {against}",
                rtol=rtol,
                atol=atol,
            )
    except StudentFailure as fail:
        if fail.category == "wrong result":
            what = "loss" if part == "loss" else f"gradient {part}"
            fail.category = f"wrong {what} (compared with {against})"
        raise with_hint(fail, NAME, (X, y, params, reg), {}, raw) from None


def torch_loss_and_grads(X, y, params, reg):
    """Loss and gradients by torch autograd of the network's loss (trusted side)."""
    labels = torch.as_tensor(y, dtype=torch.long)

    def loss(X, W1, b1, W2, b2):
        scores = torch.relu(X @ W1 + b1) @ W2 + b2
        return F.cross_entropy(scores, labels) + reg * (torch.sum(W1**2) + torch.sum(W2**2))

    value, grads = torch_value_and_grads(loss, X, *(params[k] for k in KEYS), wrt=(1, 2, 3, 4))
    return float(value), dict(zip(KEYS, grads, strict=True))


# -- comparisons ----------------------------------------------------------------------------------


@pytest.mark.points(3)
@pytest.mark.tags("two_layer_loss")
def test_two_layer_loss_reference(student, reference):
    """loss and gradients equal the reference (N = 1, one hidden unit, C = 2, N = C; reg 0, 0.3)"""
    for X, y, params in CASES.values():
        for reg in (0.0, 0.3):
            got = student_loss_and_grads(student, X, y, params, reg)
            expected = reference.two_layer_loss(X.copy(), y.copy(), _copy(params), reg)
            check_loss_and_grads(got, expected, X, y, params, reg, "the reference")


@pytest.mark.points(3)
@pytest.mark.tags("two_layer_loss")
def test_two_layer_loss_torch(student):
    """loss and gradients equal torch autograd of the network's loss (reg 0 and 0.1)"""
    for X, y, params in CASES.values():
        for reg in (0.0, 0.1):
            got = student_loss_and_grads(student, X, y, params, reg)
            expected = torch_loss_and_grads(X, y, params, reg)
            check_loss_and_grads(got, expected, X, y, params, reg, "torch autograd")


#: Step and tolerances of the finite differences, by the precision of the student's answer: a
#: float32 loss is rounded to about 1e-7 of its value, so h = 1e-5 would measure mostly rounding;
#: h = 1e-2 keeps the error near 1e-4 on this case (measured), whose hidden units stay away from 0.
NUMERIC = {64: (1e-5, 1e-5, 1e-7), 32: (1e-2, 1e-3, 1e-4)}


@pytest.mark.points(3)
@pytest.mark.tags("two_layer_loss")
def test_two_layer_loss_numeric(student):
    """gradients agree with centered differences of your own loss (reg 0.1)"""
    X, y, params = CASES["C=2"]
    reg = 0.1
    got = student_loss_and_grads(student, X, y, params, reg)
    low = (np.float32, np.float16)
    bits = 32 if any(np.asarray(v).dtype in low for v in (got[2][0], *got[1].values())) else 64
    h, rtol, atol = NUMERIC[bits]
    numeric = {}
    for k in KEYS:
        grad = np.zeros(params[k].shape)
        for ix in np.ndindex(grad.shape):
            values = []
            for step in (h, -h):
                moved = _copy(params)
                moved[k][ix] += step
                values.append(student_loss_and_grads(student, X, y, moved, reg)[0])
            grad[ix] = (values[0] - values[1]) / (2 * h)
        numeric[k] = grad
    against = f"centered differences (h = {h:g}) of your own loss"
    check_loss_and_grads(got, (got[0], numeric), X, y, params, reg, against, rtol=rtol, atol=atol)


@pytest.mark.points(2)
@pytest.mark.tags("two_layer_loss")
def test_two_layer_loss_large_scores(student, reference):
    """loss and gradients stay finite and correct for scores of several thousand"""
    X, y, params = LARGE
    got = student_loss_and_grads(student, X, y, params, 0.0)
    expected = reference.two_layer_loss(X.copy(), y.copy(), _copy(params), 0.0)
    check_loss_and_grads(got, expected, X, y, params, 0.0, "the reference")


@pytest.mark.points(2)
@pytest.mark.tags("two_layer_loss")
def test_two_layer_loss_leaves_inputs(student):
    """the network's loss leaves X and y unchanged"""
    for X, y, params in CASES.values():
        student_loss_and_grads(student, X, y, params, 0.1)
        expect_unchanged(NAME, student.mutated, ("X", "y", "params", "reg"))


# -- properties -----------------------------------------------------------------------------------

_vals = st.floats(-2, 2, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def networks(draw):
    n, d = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    h, c = draw(st.integers(1, 4)), draw(st.integers(2, 4))
    X = draw(hnp.arrays(np.float64, (n, d), elements=_vals))
    y = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    shapes = {"W1": (d, h), "b1": (h,), "W2": (h, c), "b2": (c,)}
    params = {k: draw(hnp.arrays(np.float64, s, elements=_vals)) for k, s in shapes.items()}
    return X, y, params


def _tol(*values):
    low = any(np.asarray(v).dtype in (np.float32, np.float16) for v in values)
    return (1e-4, 1e-5) if low else (1e-7, 1e-9)


@pytest.mark.points(3)
@pytest.mark.tags("two_layer_loss")
@settings(max_examples=10, deadline=None)
@given(net=networks(), reg=st.floats(0.01, 2.0))
def test_two_layer_loss_reg_part(student, net, reg):
    """the penalty adds reg * (sum W1**2 + sum W2**2) to the loss, 2 reg W to dW, 0 to db"""
    X, y, params = net
    loss_r, grads_r, _ = student_loss_and_grads(student, X, y, params, reg)
    loss_0, grads_0, _ = student_loss_and_grads(student, X, y, params, 0.0)
    penalty = reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    rtol, atol = _tol(loss_r, *grads_r.values())
    problems = []
    if not np.isclose(loss_r - loss_0, penalty, rtol=rtol, atol=atol):
        problems.append(
            f"loss(reg) - loss(0) = {loss_r - loss_0:.6g}, not reg * (sum W1**2 + sum W2**2) = "
            f"{penalty:.6g}"
        )
    for k in KEYS:
        part = 2 * reg * params[k] if k.startswith("W") else np.zeros(params[k].shape)
        diff = as_array(NAME, grads_r[k], part.shape).astype(np.float64) - as_array(
            NAME, grads_0[k], part.shape
        ).astype(np.float64)
        if not np.allclose(diff, part, rtol=rtol, atol=atol):
            expected = "2 * reg * " + k if k.startswith("W") else "0 (biases are not penalized)"
            problems.append(
                f"grads['{k}'] with reg minus without is {summarize(diff)}, not {expected}"
            )
    if problems:
        fail_property(
            NAME,
            "the penalty adds reg * (sum W1**2 + sum W2**2) to the loss, 2 * reg * W1 and "
            "2 * reg * W2 to the weights' gradients and nothing to the biases'",
            summarize_inputs(_inputs(X, y, params, reg)) + "; " + "; ".join(problems),
            category="property: the regularization part of the loss or its gradients",
        )


@pytest.mark.points(2)
@pytest.mark.tags("two_layer_loss")
@settings(max_examples=10, deadline=None)
@given(net=networks())
def test_two_layer_loss_db2_sums_to_zero(student, net):
    """with reg 0, db2 and every row of dW2 sum to 0 (softmax probabilities sum to 1)"""
    X, y, params = net
    _, grads, _ = student_loss_and_grads(student, X, y, params, 0.0)
    db2 = as_array(NAME, grads["b2"], params["b2"].shape)
    dW2 = as_array(NAME, grads["W2"], params["W2"].shape)
    _, atol = _tol(db2, dW2)
    scale = max(1.0, float(np.max(np.abs(X @ params["W1"] + params["b1"]), initial=0.0)))
    sums = (float(np.sum(db2.astype(np.float64))), dW2.astype(np.float64).sum(axis=1))
    if not np.allclose(sums[0], 0, atol=100 * atol) or not np.allclose(
        sums[1], 0, atol=100 * atol * scale
    ):
        fail_property(
            NAME,
            "with reg = 0 the entries of grads['b2'] and each row of grads['W2'] sum to 0 (each "
            "example's softmax probabilities sum to 1, so its dscores row sums to 0)",
            summarize_inputs(_inputs(X, y, params, 0.0))
            + f"; sum of your db2: {sums[0]:.6g}, row sums of your dW2: {summarize(sums[1])}",
            category="property: the gradient of the scores sums to 0 over the classes",
        )
