"""layers.py, hidden: edge shapes, large values, torch autograd, finite differences, properties."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader.testing import (
    StudentFailure,
    as_array,
    compare,
    expect_close,
    expect_unchanged,
    fail_property,
    summarize,
    summarize_inputs,
    torch_value_and_grads,
    with_hint,
)

RNG = np.random.default_rng(20250213)


def _normal(*shape, scale=1.0):
    return np.round(RNG.normal(0.0, scale, size=shape), 3)


def _affine_case(n, d, m):
    """(dout, x, w, b) for an affine layer from d to m units on n examples."""
    return _normal(n, m), _normal(n, d), _normal(d, m), _normal(m)


# N = D (where x @ dout has the shape of dw, so a missing transpose gives wrong numbers instead
# of an error; first, so that its hint is the one a student reads), N = 1, a single output unit,
# a single input feature, and a general case.
AFFINE = {
    "N=D": _affine_case(3, 3, 5),
    "N=1": _affine_case(1, 4, 3),
    "M=1": _affine_case(5, 3, 1),
    "D=1": _affine_case(4, 1, 3),
    "N=7,D=4,M=6": _affine_case(7, 4, 6),
}
# Entries up to about 1e4 in x and w: outputs near 1e8.
AFFINE_LARGE = (_normal(3, 2, scale=1e3), _normal(3, 4, scale=1e4), _normal(4, 2, scale=1e4))
AFFINE_LARGE = (*AFFINE_LARGE, _normal(2, scale=1e4))


def _relu_input(*shape):
    """Normal entries with about a third of them set to exactly 0."""
    x = _normal(*shape)
    x[RNG.random(shape) < 0.3] = 0.0
    return x


# Any shape: a single unit, a row, a column, a matrix and a 3-d array, each with exact zeros
# (except the single unit, which is exactly 0).
RELU = {
    "single unit": (np.array([[1.5]]), np.array([[0.0]])),
    "1-d": (_normal(6), _relu_input(6)),
    "N=1": (_normal(1, 5), _relu_input(1, 5)),
    "column": (_normal(6, 1), _relu_input(6, 1)),
    "matrix": (_normal(5, 4), _relu_input(5, 4)),
    "3-d": (_normal(2, 3, 4), _relu_input(2, 3, 4)),
}
assert all(np.any(x == 0) and np.any(x < 0) for _, x in list(RELU.values())[1:])
RELU_LARGE = np.array([[1e30, -1e30, 3e8], [-7e10, 0.0, 1e-30]])


def _affine(x, w, b):
    """x @ w + b, by torch"""
    return x @ w + b


def _triple(got):
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise StudentFailure(
            "`affine_backward` should return a tuple (dx, dw, db), but returned "
            + summarize(got)[:80],
            category="wrong type",
        )
    return got


def _check_grads(name, got, expected, call, parts, against, category, rtol=None, atol=None):
    """Each member of ``got`` against ``expected``; a hidden failure names the part, not inputs.

    ``call`` is ``(args, inputs by name, what the student returned)``: the inputs go into the
    message, and a known bug that returns the same answer on those arguments gives its hint.
    """
    args, inputs, raw = call
    for part, g, e in zip(parts, got, expected, strict=True):
        try:
            arr = as_array(name, g, np.shape(e))
            expect_close(
                name,
                arr,
                e,
                inputs=inputs,
                kind="grad",
                what=f"{part}, vs {against}",
                rtol=rtol,
                atol=atol,
            )
        except StudentFailure as fail:
            if fail.category == "wrong result":
                fail.category = category.format(part=part)
            raise with_hint(fail, name, args, {}, raw) from None


def _numeric(f, a, h=1e-6):
    """Centered differences of the scalar function ``f`` at ``a`` (trusted side)."""
    a = np.array(a, dtype=np.float64)
    grad = np.zeros_like(a)
    for ix in np.ndindex(a.shape):
        old = a[ix]
        a[ix] = old + h
        up = f(a)
        a[ix] = old - h
        down = f(a)
        a[ix] = old
        grad[ix] = (up - down) / (2 * h)
    return grad


# -- affine_forward -------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.tags("affine_forward")
def test_affine_forward_shapes(student, reference):
    """affine forward equals the reference (N = 1, one output unit, one feature, larger)"""
    for _, x, w, b in AFFINE.values():
        compare(student, reference, "affine_forward", x, w, b)
        expect_unchanged("affine_forward", student.mutated, ("x", "w", "b"))


@pytest.mark.points(2)
@pytest.mark.tags("affine_forward")
def test_affine_forward_large(student, reference):
    """affine forward is correct for inputs and weights up to about 1e4"""
    _, x, w, b = AFFINE_LARGE
    compare(student, reference, "affine_forward", x, w, b)


# -- affine_backward ------------------------------------------------------------------------------

AFFINE_PARTS = ("dx", "dw", "db")


@pytest.mark.points(3)
@pytest.mark.tags("affine_backward")
def test_affine_backward_shapes(student, reference):
    """affine backward equals the reference (N = 1, one unit, one feature, N = D, larger)"""
    for dout, x, w, b in AFFINE.values():
        compare(
            student,
            reference,
            "affine_backward",
            dout,
            x,
            w,
            b,
            parts=AFFINE_PARTS,
            kinds=("grad",) * 3,
        )
        expect_unchanged("affine_backward", student.mutated, ("dout", "x", "w", "b"))


@pytest.mark.points(2)
@pytest.mark.tags("affine_backward")
def test_affine_backward_torch(student):
    """affine backward equals torch autograd of x @ w + b, also for large inputs"""
    for dout, x, w, b in (*AFFINE.values(), AFFINE_LARGE):
        got = _triple(student.affine_backward(dout, x, w, b))
        _, expected = torch_value_and_grads(_affine, x, w, b, upstream=dout)
        _check_grads(
            "affine_backward",
            got,
            expected,
            ((dout, x, w, b), {"dout": dout, "x": x, "w": w, "b": b}, got),
            AFFINE_PARTS,
            "torch autograd",
            "wrong gradient {part} (compared with torch autograd)",
        )


@pytest.mark.points(2)
@pytest.mark.tags("affine_backward")
def test_affine_backward_numeric(student, reference):
    """affine backward agrees with centered differences of sum(dout * affine_forward(x, w, b))"""
    dout, x, w, b = AFFINE["N=7,D=4,M=6"]
    got = _triple(student.affine_backward(dout, x, w, b))

    def loss(x, w, b):
        return float(np.sum(dout * reference.affine_forward(x, w, b)))

    numeric = (
        _numeric(lambda a: loss(a, w, b), x),
        _numeric(lambda a: loss(x, a, b), w),
        _numeric(lambda a: loss(x, w, a), b),
    )
    _check_grads(
        "affine_backward",
        got,
        numeric,
        ((dout, x, w, b), {"dout": dout, "x": x, "w": w, "b": b}, got),
        AFFINE_PARTS,
        "centered differences (h = 1e-6)",
        "wrong gradient {part} (compared with the numeric gradient)",
        rtol=1e-6,
        atol=1e-6,
    )


_small = st.floats(-5, 5, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def affine_problems(draw):
    n, d, m = draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dout = draw(hnp.arrays(np.float64, (n, m), elements=_small))
    x = draw(hnp.arrays(np.float64, (n, d), elements=_small))
    w = draw(hnp.arrays(np.float64, (d, m), elements=_small))
    b = draw(hnp.arrays(np.float64, (m,), elements=_small))
    return dout, x, w, b


@pytest.mark.points(2)
@pytest.mark.tags("affine_backward")
@settings(max_examples=15, deadline=None)
@given(problem=affine_problems())
def test_affine_backward_db_is_row_sum(student, problem):
    """affine backward: db is dout summed over the examples (the bias is shared by every row)"""
    dout, x, w, b = problem
    got = _triple(student.affine_backward(dout, x, w, b))
    db = as_array("affine_backward", got[2], b.shape).astype(np.float64)
    tol = 1e-4 if np.asarray(got[2]).dtype == np.float32 else 1e-9
    if not np.allclose(db, dout.sum(axis=0), rtol=tol, atol=tol):
        fail_property(
            "affine_backward",
            "db = dout summed over its rows (axis 0): each example adds its dout to the bias",
            summarize_inputs({"dout": dout, "x": x, "w": w, "b": b})
            + f"; your db: {summarize(db)}",
            category="property: db is the sum of dout over the examples",
        )


# -- relu_forward ---------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.tags("relu_forward")
def test_relu_forward_edges(student, reference):
    """relu forward of any shape, with exact zeros, a single unit and values up to 1e30"""
    for _, x in RELU.values():
        compare(student, reference, "relu_forward", x)
    compare(student, reference, "relu_forward", RELU_LARGE)


@pytest.mark.points(2)
@pytest.mark.tags("relu_forward")
def test_relu_forward_leaves_input(student):
    """relu forward leaves x unchanged (it returns a new array)"""
    for _, x in RELU.values():
        student.relu_forward(x)
        expect_unchanged("relu_forward", student.mutated, ("x",))


_with_zeros = st.one_of(_small, st.just(0.0), st.just(-0.0))
_relu_arrays = hnp.array_shapes(min_dims=1, max_dims=3, max_side=5).flatmap(
    lambda shape: hnp.arrays(np.float64, shape, elements=_with_zeros)
)


@pytest.mark.points(2)
@pytest.mark.tags("relu_forward")
@settings(max_examples=15, deadline=None)
@given(x=_relu_arrays)
def test_relu_forward_property(student, x):
    """relu forward: the output is >= 0 everywhere, equals x where x > 0 and is 0 where x <= 0"""
    got = as_array("relu_forward", student.relu_forward(x), x.shape)
    tol = 1e-6 if got.dtype == np.float32 else 0.0
    out = got.astype(np.float64)
    on = x > 0
    if np.any(out < 0) or not np.allclose(out[on], x[on], rtol=tol, atol=0) or np.any(out[~on]):
        fail_property(
            "relu_forward",
            "relu(x) = x where x > 0 and 0 where x <= 0 (never negative)",
            f"x={summarize(x)}; your output: {summarize(out)}",
            category="property: relu(x) = max(0, x)",
        )


# -- relu_backward --------------------------------------------------------------------------------


@pytest.mark.points(3)
@pytest.mark.tags("relu_backward")
def test_relu_backward_shapes(student, reference):
    """relu backward equals the reference (any shape, a single unit at 0, exact zeros in x)"""
    for dout, x in RELU.values():
        compare(student, reference, "relu_backward", dout, x, kinds=("grad",))
        expect_unchanged("relu_backward", student.mutated, ("dout", "x"))


@pytest.mark.points(2)
@pytest.mark.tags("relu_backward")
def test_relu_backward_torch(student):
    """relu backward equals torch autograd of torch.relu, whose gradient is 0 at x = 0"""
    for dout, x in (*RELU.values(), (_normal(*RELU_LARGE.shape), RELU_LARGE)):
        got = as_array("relu_backward", student.relu_backward(dout, x), x.shape)
        _, (expected,) = torch_value_and_grads(torch.relu, x, upstream=dout)
        _check_grads(
            "relu_backward",
            (got,),
            (expected,),
            ((dout, x), {"dout": dout, "x": x}, got),
            ("dx",),
            "torch autograd",
            "wrong gradient {part} (compared with torch autograd)",
        )


@st.composite
def relu_problems(draw):
    x = draw(_relu_arrays)
    nonzero = st.floats(0.1, 5) | st.floats(-5, -0.1)
    dout = draw(hnp.arrays(np.float64, x.shape, elements=nonzero))
    return dout, x


@pytest.mark.points(2)
@pytest.mark.tags("relu_backward")
@settings(max_examples=15, deadline=None)
@given(problem=relu_problems())
def test_relu_backward_zero_where_off(student, problem):
    """relu backward: dx is 0 wherever x <= 0 (x = 0 included) and dout wherever x > 0"""
    dout, x = problem
    got = as_array("relu_backward", student.relu_backward(dout, x), x.shape)
    tol = 1e-6 if got.dtype == np.float32 else 0.0
    dx = got.astype(np.float64)
    on = x > 0
    if np.any(dx[~on]) or not np.allclose(dx[on], dout[on], rtol=tol, atol=0):
        fail_property(
            "relu_backward",
            "dx = dout where x > 0 and dx = 0 where x <= 0 (the subgradient at x = 0 is 0)",
            summarize_inputs({"dout": dout, "x": x}) + f"; your dx: {summarize(dx)}",
            category="property: the gradient is 0 where the unit is off (x <= 0)",
        )
