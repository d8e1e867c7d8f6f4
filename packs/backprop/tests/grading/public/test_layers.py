"""layers.py, public cases: a few small inputs per function (students see inputs and answers)."""

import numpy as np
import pytest
import torch

from grader.testing import (
    StudentFailure,
    as_array,
    compare,
    expect_close,
    expect_unchanged,
    summarize,
    torch_value_and_grads,
    with_hint,
)

# A batch of N = 2 examples with D = 3 features, an affine layer to M = 4 units.
X = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
W = np.array([[0.2, -0.1, 0.4, 1.0], [0.5, 0.3, -0.6, 0.0], [-1.0, 0.25, 0.1, 2.0]])
B = np.array([0.1, -0.2, 0.0, 0.5])
DOUT = np.array([[1.0, -0.5, 2.0, 0.0], [0.3, 1.0, -1.0, 0.5]])
# ReLU inputs with negative entries and exact zeros; every upstream gradient entry is non-zero.
RX = np.array([[-1.5, 0.0, 2.0], [3.0, -0.5, 0.0]])
RDOUT = np.array([[0.7, -1.2, 0.4], [2.0, 0.9, -0.3]])


def _affine(x, w, b):
    """x @ w + b, by torch"""
    return x @ w + b


def _grads(name, got, expected, args, inputs, parts):
    """Each member of ``got`` (a tuple) against ``expected``, named by ``parts``; a known bug
    that returns the same on ``args`` gives its hint."""
    for part, g, e in zip(parts, got, expected, strict=True):
        try:
            arr = as_array(name, g, np.shape(e))
            what = f"{part}, vs torch autograd"
            expect_close(name, arr, e, inputs=inputs, kind="grad", what=what)
        except StudentFailure as fail:
            raw = got if len(parts) > 1 else got[0]  # what the function itself returned
            raise with_hint(fail, name, args, {}, raw) from None


@pytest.mark.points(1)
@pytest.mark.tags("affine_forward")
def test_affine_forward_small(student, reference):
    """affine layer on two examples: x (2, 3), w (3, 4), b (4,)"""
    compare(student, reference, "affine_forward", X, W, B)
    expect_unchanged("affine_forward", student.mutated, ("x", "w", "b"))


@pytest.mark.points(1)
@pytest.mark.tags("affine_backward")
def test_affine_backward_small(student, reference):
    """affine backward on two examples equals the reference (dx, dw, db)"""
    compare(
        student,
        reference,
        "affine_backward",
        DOUT,
        X,
        W,
        B,
        parts=("dx", "dw", "db"),
        kinds=("grad", "grad", "grad"),
    )
    expect_unchanged("affine_backward", student.mutated, ("dout", "x", "w", "b"))


@pytest.mark.points(1)
@pytest.mark.tags("affine_backward")
def test_affine_backward_torch(student):
    """affine backward equals torch autograd of x @ w + b with upstream gradient dout"""
    got = _triple(student.affine_backward(DOUT, X, W, B))
    _, expected = torch_value_and_grads(_affine, X, W, B, upstream=DOUT)
    _grads(
        "affine_backward",
        got,
        expected,
        (DOUT, X, W, B),
        {"dout": DOUT, "x": X, "w": W, "b": B},
        ("dx", "dw", "db"),
    )


def _triple(got):
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise StudentFailure(
            "`affine_backward` should return a tuple (dx, dw, db), but returned "
            + summarize(got)[:80],
            category="wrong type",
        )
    return got


@pytest.mark.points(1)
@pytest.mark.tags("relu_forward")
def test_relu_forward_small(student, reference):
    """relu of a 2x3 matrix with negative entries and zeros"""
    compare(student, reference, "relu_forward", RX)
    expect_unchanged("relu_forward", student.mutated, ("x",))


@pytest.mark.points(1)
@pytest.mark.tags("relu_backward")
def test_relu_backward_small(student, reference):
    """relu backward of a 2x3 matrix: dout passes where x > 0, 0 where x <= 0 (also at x = 0)"""
    compare(student, reference, "relu_backward", RDOUT, RX, kinds=("grad",))
    expect_unchanged("relu_backward", student.mutated, ("dout", "x"))


@pytest.mark.points(1)
@pytest.mark.tags("relu_backward")
def test_relu_backward_torch(student):
    """relu backward equals torch autograd of torch.relu (whose gradient at x = 0 is 0)"""
    got = as_array("relu_backward", student.relu_backward(RDOUT, RX), RX.shape)
    _, expected = torch_value_and_grads(torch.relu, RX, upstream=RDOUT)
    _grads("relu_backward", (got,), expected, (RDOUT, RX), {"dout": RDOUT, "x": RX}, ("dx",))
