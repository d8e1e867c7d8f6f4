"""torch_losses.py, public cases: forward and backward on one small input per class."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grader.testing import StudentFailure, as_scalar, diagnose, expect_close, with_hint

SCORES = np.array([[1.0, 2.0, 0.5], [-0.3, 0.8, 2.1]])
LABELS = np.array([2, 0])
# Scores up to 1e4 (the README's bound): exp overflows, and the correct class of row 0 is far
# below its row's best; no hinge term is at its kink (the kink has tests of its own).
LARGE = np.array([[1e4, 0.0, -1e4], [0.0, 1.5, 2.5]])
LARGE_Y = np.array([2, 1])
# Small integers: s_1 - s_0 + 1 (row 0) and s_0 - s_1 + 1, s_2 - s_1 + 1 (row 1) are exactly 0,
# at the hinge's kink; s_2 - s_0 + 1 of row 0 is active.
KINK = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]])
KINK_Y = np.array([0, 1])


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


def _hinge(student, scores, y):
    """MulticlassHinge's forward and backward against C * F.multi_margin_loss and autograd."""
    name = "MulticlassHinge"
    out = student.MulticlassHinge.run(scores, y, grad_output=1.0)
    loss, grad = torch_reference(name, scores, y)
    inputs = {"scores": scores, "y": y, "grad_output": 1.0}
    got = as_scalar(name, out["output"])
    expect_close(name, got, loss, inputs=inputs)
    try:
        expect_close(
            name, out.get("grad"), grad, inputs=inputs, kind="grad", what="gradient for scores"
        )
    except StudentFailure as fail:

        def ask(args, kwargs):
            """the student's loss and gradient on another input (a known bug's probes)"""
            run = student.MulticlassHinge.run(*args, grad_output=1.0)
            return as_scalar(name, run["output"]), run.get("grad")

        raise with_hint(
            fail, name, (scores, y), {}, (got, out.get("grad")), ask=ask, part=1
        ) from None


@pytest.mark.points(1)
@pytest.mark.tags("MulticlassHinge")
def test_multiclass_hinge_forward_backward(student):
    """MulticlassHinge forward and backward equal C * F.multi_margin_loss on two rows"""
    _hinge(student, SCORES, LABELS)


@pytest.mark.points(0.5)
@pytest.mark.tags("MulticlassHinge")
def test_multiclass_hinge_large_scores(student):
    """MulticlassHinge forward and backward stay finite for scores up to 1e4"""
    _hinge(student, LARGE, LARGE_Y)


@pytest.mark.points(0.5)
@pytest.mark.tags("MulticlassHinge")
def test_multiclass_hinge_at_the_kink(student):
    """MulticlassHinge backward with terms exactly at the kink (they count as inactive)"""
    _hinge(student, KINK, KINK_Y)
