"""net.py, public cases: the two-layer network's loss and gradients on a small batch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grader.testing import (
    StudentFailure,
    as_array,
    as_scalar,
    expect_close,
    expect_unchanged,
    summarize,
    torch_value_and_grads,
    with_hint,
)

NAME = "two_layer_loss"
KEYS = ("W1", "b1", "W2", "b2")

# N = 3 examples, D = 2 features, H = 4 hidden units, C = 3 classes. Some hidden units are off
# (negative before the ReLU) for some examples, none is exactly at 0.
X = np.array([[1.0, -0.5], [0.2, 0.8], [-1.2, 0.3]])
Y = np.array([0, 2, 1])
PARAMS = {
    "W1": np.array([[0.5, -0.3, 0.8, 0.1], [-0.6, 0.4, 0.2, -0.9]]),
    "b1": np.array([0.1, 0.0, -0.2, 0.3]),
    "W2": np.array([[0.3, -0.7, 0.2], [0.9, 0.1, -0.4], [-0.5, 0.6, 0.8], [0.2, -0.2, 0.5]]),
    "b2": np.array([0.05, -0.1, 0.0]),
}


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
    return got


def check_loss_and_grads(got, expected, X, y, params, reg, against):
    """The student's loss and every gradient against ``expected`` = (loss, grads)."""
    inputs = _inputs(X, y, params, reg)
    try:
        loss = as_scalar(NAME, got[0])
        expect_close(NAME, loss, expected[0], inputs=inputs, what=f"loss, vs {against}")
        for k in KEYS:
            g = as_array(NAME, got[1][k], params[k].shape)
            what = f"grads['{k}'], vs {against}"
            expect_close(NAME, g, expected[1][k], inputs=inputs, kind="grad", what=what)
    except StudentFailure as fail:
        raise with_hint(fail, NAME, (X, y, params, reg), {}, got) from None


def torch_loss_and_grads(X, y, params, reg):
    """Loss and gradients by torch autograd of the network's loss (trusted side)."""
    labels = torch.as_tensor(y, dtype=torch.long)

    def loss(X, W1, b1, W2, b2):
        scores = torch.relu(X @ W1 + b1) @ W2 + b2
        return F.cross_entropy(scores, labels) + reg * (torch.sum(W1**2) + torch.sum(W2**2))

    value, grads = torch_value_and_grads(loss, X, *(params[k] for k in KEYS), wrt=(1, 2, 3, 4))
    return float(value), dict(zip(KEYS, grads, strict=True))


@pytest.mark.points(1)
@pytest.mark.tags("two_layer_loss")
def test_two_layer_loss_small(student, reference):
    """loss and gradients of a 2-4-3 network on three examples, reg 0"""
    got = student_loss_and_grads(student, X, Y, PARAMS, 0.0)
    expected = reference.two_layer_loss(X.copy(), Y.copy(), _copy(PARAMS), 0.0)
    check_loss_and_grads(got, expected, X, Y, PARAMS, 0.0, "the reference")
    expect_unchanged(NAME, student.mutated, ("X", "y", "params", "reg"))


@pytest.mark.points(1)
@pytest.mark.tags("two_layer_loss")
def test_two_layer_loss_reg(student, reference):
    """loss and gradients with reg 0.1: W1 and W2 are penalized, the biases are not"""
    got = student_loss_and_grads(student, X, Y, PARAMS, 0.1)
    expected = reference.two_layer_loss(X.copy(), Y.copy(), _copy(PARAMS), 0.1)
    check_loss_and_grads(got, expected, X, Y, PARAMS, 0.1, "the reference")


@pytest.mark.points(1)
@pytest.mark.tags("two_layer_loss")
def test_two_layer_loss_torch(student):
    """loss and gradients equal torch autograd of cross_entropy + reg * (sum W1**2 + sum W2**2)"""
    got = student_loss_and_grads(student, X, Y, PARAMS, 0.05)
    expected = torch_loss_and_grads(X, Y, PARAMS, 0.05)
    check_loss_and_grads(got, expected, X, Y, PARAMS, 0.05, "torch autograd")
