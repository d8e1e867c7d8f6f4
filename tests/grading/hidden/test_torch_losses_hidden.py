"""torch_losses.py, hidden: forward/backward against torch, gradcheck, dtype and device."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.autograd.gradcheck import GradcheckError

from grader.testing import (
    StudentFailure,
    as_array,
    as_scalar,
    diagnose,
    expect_close,
    summarize_inputs,
    with_hint,
)

SCE, HINGE = "SoftmaxCrossEntropy", "MulticlassHinge"
GRADCHECK_FAILED = (
    "`{name}`: torch.autograd.gradcheck failed in float64 (eps = 1e-6, atol = 1e-5): your "
    "backward disagrees with finite differences of your own forward.\n  input: {inputs}\n"
    "  gradcheck said: {detail}\n  hint: backward must return d loss / d scores (the mean over "
    "N rows, so divided by N), multiplied by grad_output, with the right sign"
)
NO_GRAD = (
    "`{name}`: backward gave no gradient for scores; it must return (d loss / d scores "
    "* grad_output, None{nones})"
)

_rng = np.random.default_rng(8)


def _case(n, c, scale=2.0):
    return np.round(_rng.normal(0, scale, (n, c)), 3), _rng.integers(0, c, n)


# Every hinge term of these stays at least 0.1 away from its kink (margins 1 and 2.5).
CASES = {"N=1": _case(1, 4), "C=2": _case(5, 2), "N=C": _case(4, 4), "N=6,C=5": _case(6, 5)}
HUGE = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 5e3], [3e3, -2e3, 1e4], [20.0, 0.0, 0.0]])
HUGE_Y = np.array([2, 1, 0, 1])


def torch_reference(name, scores, y, grad_output=1.0, margin=1.0):
    """Loss and grad_output * d loss / d scores by torch autograd (trusted side)."""
    s = torch.tensor(np.asarray(scores, dtype=np.float64), requires_grad=True)
    yt = torch.tensor(np.asarray(y), dtype=torch.long)
    if name == SCE:
        loss = F.cross_entropy(s, yt)
    else:
        loss = s.shape[1] * F.multi_margin_loss(s, yt, margin=margin)
    loss.backward(torch.tensor(float(grad_output), dtype=torch.float64))
    return float(loss.item()), s.grad.numpy()


def _extra(name, margin):
    return (margin,) if name == HINGE and margin != 1.0 else ()


def _inputs(scores, y, name, margin, grad_output=None):
    inputs = {"scores": scores, "y": y}
    if name == HINGE:
        inputs["margin"] = margin
    if grad_output is not None:
        inputs["grad_output"] = grad_output
    return inputs


def _grad(name, out, shape):
    if out.get("grad") is None:
        nones = ", None" if name == HINGE else ""
        raise StudentFailure(NO_GRAD.format(name=name, nones=nones), category="no gradient")
    return as_array(name, out["grad"], shape)


def _how_grad_differs(got, expected, n, grad_output):
    """A sentence on a wrong backward: sign flip, or a constant factor and what it suggests."""
    got = np.asarray(got, dtype=np.float64)
    if not np.any(np.abs(expected) > 1e-12):
        return ""
    if np.allclose(got, -expected, rtol=1e-5, atol=1e-8):
        return "  where: your gradient is the exact negative of the expected one (sign error)\n"
    k = float(np.vdot(got, expected) / np.vdot(expected, expected))
    if np.allclose(got, k * expected, rtol=1e-5, atol=1e-8):
        why = ""
        if np.isclose(k, n):
            why = " (= N: divide by the number of rows N)"
        elif np.isclose(k * grad_output, 1.0):
            why = " (= 1 / grad_output: multiply by grad_output)"
        return f"  where: your gradient is the expected one times {k:.6g}{why}\n"
    return ""


def _forward(student, name, scores, y, margin=1.0):
    out = getattr(student, name).run(scores, y, *_extra(name, margin))
    expected, _ = torch_reference(name, scores, y, margin=margin)
    got = as_scalar(name, out["output"])
    what = "loss, compared with " + (
        "F.cross_entropy" if name == SCE else "C * F.multi_margin_loss"
    )

    def ask(args, kwargs):
        """the student's forward on another input (a known bug's probes)"""
        return as_scalar(name, getattr(student, name).run(*args, *_extra(name, margin))["output"])

    expect_close(
        name,
        got,
        expected,
        inputs=_inputs(scores, y, name, margin),
        what=what,
        diagnose=diagnose,
        call=((scores, y), {}),
        ask=ask,
    )
    return out


def _backward(student, name, scores, y, grad_output, margin=1.0):
    out = getattr(student, name).run(scores, y, *_extra(name, margin), grad_output=grad_output)
    _, expected = torch_reference(name, scores, y, grad_output, margin)
    got = _grad(name, out, scores.shape)
    try:
        expect_close(
            name,
            got,
            expected,
            inputs=_inputs(scores, y, name, margin, grad_output),
            kind="grad",
            what="gradient for scores, compared with torch autograd",
        )
    except StudentFailure as fail:
        if name == HINGE:  # a known bug of its backward (the library runs forward and backward)

            def ask(args, kwargs):
                """the student's loss and gradient on another input (a known bug's probes)"""
                run = getattr(student, name).run(
                    *args,
                    *_extra(name, kwargs.get("margin", 1.0)),
                    grad_output=kwargs.get("grad_output", 1.0),
                )
                return as_scalar(name, run["output"]), run.get("grad")

            call = (scores, y), {"margin": margin, "grad_output": grad_output}
            mine = (as_scalar(name, out["output"]), got)
            with_hint(fail, name, *call, mine, ask=ask, part=1)
        extra = _how_grad_differs(got, expected, scores.shape[0], grad_output)
        if extra:
            fail.message += "\n" + extra.rstrip()
            fail.args = (fail.message,)
            fail.category = "wrong gradient: " + (
                "sign" if "negative" in extra else "constant factor"
            )
        raise


def _gradcheck(student, name, scores, y, margin=1.0):
    fn = getattr(student, name).function(y, *_extra(name, margin))
    s = torch.tensor(scores, dtype=torch.float64, requires_grad=True)
    detail = "returned False"
    try:
        ok = torch.autograd.gradcheck(fn, (s,), eps=1e-6, atol=1e-5)
    except GradcheckError as exc:
        ok, detail = False, str(exc).strip().splitlines()[0][:300]
    if not ok:
        raise StudentFailure(
            GRADCHECK_FAILED.format(
                name=name, inputs=summarize_inputs(_inputs(scores, y, name, margin)), detail=detail
            ),
            category="gradcheck failed",
        )


# -- SoftmaxCrossEntropy --------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.tags(SCE)
def test_sce_forward(student):
    """SoftmaxCrossEntropy forward equals F.cross_entropy (N = 1, C = 2, N = C, larger)"""
    for scores, y in CASES.values():
        _forward(student, SCE, scores, y)


@pytest.mark.points(0.5)
@pytest.mark.tags(SCE)
def test_sce_forward_huge(student):
    """SoftmaxCrossEntropy forward is finite and correct for scores up to 1e4"""
    _forward(student, SCE, HUGE, HUGE_Y)


@pytest.mark.points(2)
@pytest.mark.tags(SCE)
def test_sce_backward(student):
    """SoftmaxCrossEntropy backward equals torch autograd of F.cross_entropy"""
    for grad_output in (1.0, 2.5):
        for scores, y in CASES.values():
            _backward(student, SCE, scores, y, grad_output)
    _backward(student, SCE, HUGE, HUGE_Y, 1.0)


@pytest.mark.points(2)
@pytest.mark.tags(SCE)
def test_sce_gradcheck(student):
    """SoftmaxCrossEntropy passes torch.autograd.gradcheck in float64"""
    _gradcheck(student, SCE, *CASES["N=C"])


@pytest.mark.points(1)
@pytest.mark.tags(SCE)
def test_sce_float32(student):
    """SoftmaxCrossEntropy keeps float32 scores in float32 (loss and gradient)"""
    _dtype_case(student, SCE)


# -- MulticlassHinge ------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.tags(HINGE)
def test_hinge_forward(student):
    """MulticlassHinge forward equals C * F.multi_margin_loss (N = 1, C = 2, N = C, larger)"""
    for scores, y in [*CASES.values(), (HUGE, HUGE_Y)]:
        _forward(student, HINGE, scores, y)


@pytest.mark.points(1)
@pytest.mark.tags(HINGE)
def test_hinge_forward_margin(student):
    """MulticlassHinge forward with margin 2.5"""
    for scores, y in CASES.values():
        _forward(student, HINGE, scores, y, margin=2.5)


@pytest.mark.points(1.5)
@pytest.mark.tags(HINGE)
def test_hinge_backward(student):
    """MulticlassHinge backward equals torch autograd of C * F.multi_margin_loss"""
    for grad_output in (1.0, 2.5):
        for scores, y in CASES.values():
            _backward(student, HINGE, scores, y, grad_output)
    scores, y = CASES["N=6,C=5"]
    _backward(student, HINGE, scores, y, 1.0, margin=2.5)


# Integer scores: the terms of (row 0, class 1), (row 1, class 1) and, with margin 2, (row 0,
# class 1) and (row 1, class 0) are exactly 0, at their kink.
KINKS = (
    (np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 2.0], [1.0, 1.0, 1.0]]), np.array([0, 2, 1]), 1.0),
    (np.array([[2.0, 0.0, 1.0, -1.0], [2.0, -2.0, 0.0, 4.0]]), np.array([0, 3]), 2.0),
)
KINK_CATEGORY = "wrong gradient at a kink (a hinge term exactly 0 counts as inactive)"
KINK_NOTE = (
    "  at a kink: these scores put hinge terms exactly on their kink, s_j - s_{y_i} + margin = 0; "
    "there a term counts as inactive and adds nothing to the gradient (use a strict > 0 in "
    "backward, as max(0, .) does in forward)"
)


@pytest.mark.points(0.5)
@pytest.mark.tags(HINGE)
def test_hinge_backward_at_a_kink(student):
    """MulticlassHinge backward: a term exactly at its kink (s_j - s_y + margin = 0) counts as inactive"""
    for scores, y, margin in KINKS:
        _forward(student, HINGE, scores, y, margin=margin)
        try:
            _backward(student, HINGE, scores, y, 1.0, margin=margin)
        except StudentFailure as fail:
            fail.message += "\n" + KINK_NOTE
            fail.args = (fail.message,)
            fail.category = KINK_CATEGORY
            raise


@pytest.mark.points(2)
@pytest.mark.tags(HINGE)
def test_hinge_gradcheck(student):
    """MulticlassHinge passes torch.autograd.gradcheck in float64"""
    _gradcheck(student, HINGE, *CASES["N=C"])


@pytest.mark.points(1)
@pytest.mark.tags(HINGE)
def test_hinge_float32(student):
    """MulticlassHinge keeps float32 scores in float32 (loss and gradient)"""
    _dtype_case(student, HINGE)


def _dtype_case(student, name):
    scores, y = CASES["N=6,C=5"]
    s32 = scores.astype(np.float32)
    out = getattr(student, name).run(s32, y, grad_output=1.0)
    for what, dtype in (("loss", out.get("output_dtype")), ("gradient", _grad_dtype(out))):
        if dtype != "float32":
            raise StudentFailure(
                f"`{name}` turned float32 scores into a {dtype} {what}; keep every tensor in "
                "the dtype of scores (create new tensors with dtype=scores.dtype, or from "
                "scores itself)",
                category="dtype not preserved",
            )
    loss, grad = torch_reference(name, s32.astype(np.float64), y)
    inputs = {"scores": s32, "y": y, "grad_output": 1.0}
    expect_close(name, as_scalar(name, out["output"]), loss, inputs=inputs, what="loss")
    expect_close(name, _grad(name, out, s32.shape), grad, inputs=inputs, kind="grad")


def _grad_dtype(out):
    g = out.get("grad")
    return None if g is None else str(np.asarray(g).dtype)


# -- on the GPU -----------------------------------------------------------------------------------


def _gpu_case(student, name):
    scores, y = CASES["N=6,C=5"]
    out = getattr(student, name).run(scores, y, grad_output=2.5, device="cuda")
    for what in ("output_device", "grad_device"):
        where = str(out.get(what))
        if not where.startswith("cuda"):
            raise StudentFailure(
                f"`{name}` given CUDA tensors returned its "
                f"{'loss' if what == 'output_device' else 'gradient'} on {where}; keep every "
                "tensor on the device of the inputs (create new ones with device=scores.device "
                "and never call .cpu(), .cuda() or .to())",
                category="wrong device",
            )
    loss, grad = torch_reference(name, scores, y, 2.5)
    inputs = {"scores": scores, "y": y, "grad_output": 2.5, "device": "cuda"}
    expect_close(name, as_scalar(name, out["output"]), loss, inputs=inputs, what="loss on CUDA")
    expect_close(
        name,
        _grad(name, out, scores.shape),
        grad,
        inputs=inputs,
        kind="grad",
        what="gradient on CUDA",
    )


@pytest.mark.gpu
@pytest.mark.points(1)
@pytest.mark.tags(SCE)
def test_sce_cuda(student):
    """SoftmaxCrossEntropy runs on CUDA: loss and gradient on the GPU, equal to the CPU values"""
    _gpu_case(student, SCE)


@pytest.mark.gpu
@pytest.mark.points(1)
@pytest.mark.tags(HINGE)
def test_hinge_cuda(student):
    """MulticlassHinge runs on CUDA: loss and gradient on the GPU, equal to the CPU values"""
    _gpu_case(student, HINGE)
