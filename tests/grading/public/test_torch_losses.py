"""torch_losses.py, public cases: forward and backward on one small input per class."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grader.testing import as_scalar, diagnose, expect_close

SCORES = np.array([[1.0, 2.0, 0.5], [-0.3, 0.8, 2.1]])
LABELS = np.array([2, 0])
# Scores up to 1e4 (the README's bound): exp overflows, and the correct class of row 0 is far
# below its row's best; no hinge term is at its kink (the kink has tests of its own).
LARGE = np.array([[1e4, 0.0, -1e4], [0.0, 1.5, 2.5]])
LARGE_Y = np.array([2, 1])


def torch_reference(name, scores, y, grad_output=1.0, margin=1.0):
    """Loss and d loss / d scores (times grad_output) by torch autograd (trusted side)."""
    s = torch.tensor(np.asarray(scores, dtype=np.float64), requires_grad=True)
    yt = torch.tensor(np.asarray(y), dtype=torch.long)
    if name == "SoftmaxCrossEntropy":
        loss = F.cross_entropy(s, yt)
    else:
        loss = s.shape[1] * F.multi_margin_loss(s, yt, margin=margin)
    loss.backward(torch.tensor(float(grad_output), dtype=torch.float64))
    return float(loss.item()), s.grad.numpy()


def _forward(student, scores, y):
    """SoftmaxCrossEntropy's forward against F.cross_entropy, naming a known bug if one fits."""
    name = "SoftmaxCrossEntropy"
    expected, _ = torch_reference(name, scores, y)

    def ask(args, kwargs):
        """the student's forward on another input (a known bug's probes)"""
        return as_scalar(name, student.SoftmaxCrossEntropy.run(*args)["output"])

    got = ask((scores, y), {})
    expect_close(
        name,
        got,
        expected,
        inputs={"scores": scores, "y": y},
        diagnose=diagnose,
        call=((scores, y), {}),
        ask=ask,
    )


@pytest.mark.points(1)
@pytest.mark.tags("SoftmaxCrossEntropy")
def test_softmax_cross_entropy_forward(student):
    """SoftmaxCrossEntropy forward equals F.cross_entropy on two rows"""
    _forward(student, SCORES, LABELS)


@pytest.mark.points(0.5)
@pytest.mark.tags("SoftmaxCrossEntropy")
def test_softmax_cross_entropy_forward_large_scores(student):
    """SoftmaxCrossEntropy forward stays finite for scores up to 1e4"""
    _forward(student, LARGE, LARGE_Y)


@pytest.mark.points(1)
@pytest.mark.tags("SoftmaxCrossEntropy")
def test_softmax_cross_entropy_backward(student):
    """SoftmaxCrossEntropy backward equals torch autograd of F.cross_entropy on two rows"""
    out = student.SoftmaxCrossEntropy.run(SCORES, LABELS, grad_output=1.0)
    _, expected = torch_reference("SoftmaxCrossEntropy", SCORES, LABELS)
    expect_close(
        "SoftmaxCrossEntropy",
        out.get("grad"),
        expected,
        inputs={"scores": SCORES, "y": LABELS, "grad_output": 1.0},
        kind="grad",
        what="gradient for scores",
    )


@pytest.mark.points(1)
@pytest.mark.tags("MulticlassHinge")
def test_multiclass_hinge_forward_backward(student):
    """MulticlassHinge forward and backward equal C * F.multi_margin_loss on two rows"""
    out = student.MulticlassHinge.run(SCORES, LABELS, grad_output=1.0)
    loss, grad = torch_reference("MulticlassHinge", SCORES, LABELS)
    inputs = {"scores": SCORES, "y": LABELS, "grad_output": 1.0}
    expect_close(
        "MulticlassHinge", as_scalar("MulticlassHinge", out["output"]), loss, inputs=inputs
    )
    expect_close(
        "MulticlassHinge",
        out.get("grad"),
        grad,
        inputs=inputs,
        kind="grad",
        what="gradient for scores",
    )


@pytest.mark.points(0.5)
@pytest.mark.tags("MulticlassHinge")
def test_multiclass_hinge_large_scores(student):
    """MulticlassHinge forward and backward stay finite for scores up to 1e4"""
    out = student.MulticlassHinge.run(LARGE, LARGE_Y, grad_output=1.0)
    loss, grad = torch_reference("MulticlassHinge", LARGE, LARGE_Y)
    inputs = {"scores": LARGE, "y": LARGE_Y, "grad_output": 1.0}
    expect_close(
        "MulticlassHinge", as_scalar("MulticlassHinge", out["output"]), loss, inputs=inputs
    )
    expect_close(
        "MulticlassHinge",
        out.get("grad"),
        grad,
        inputs=inputs,
        kind="grad",
        what="gradient for scores",
    )
