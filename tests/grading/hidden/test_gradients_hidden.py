"""gradients.py, hidden: reference and torch comparisons, gradient properties, numeric checks."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
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
    not_finite,
    summarize,
    summarize_inputs,
    with_hint,
)

GRAD_CATEGORY = "wrong gradient: {kind}"
WHERE = "  where: {explanation}\n"


# -- explaining a wrong gradient ------------------------------------------------------------------


def _close(a, b, scale):
    return bool(np.allclose(a, b, rtol=1e-5, atol=1e-7 * max(1.0, scale)))


def _bits(*values):
    """32 if any of the values is a float32 (or float16) number or array, else 64."""
    low = (np.float32, np.float16)
    return 32 if any(np.asarray(v).dtype in low for v in values) else 64


def _entries(got, expected, close, limit=4):
    bad = [tuple(int(i) for i in ix) for ix in np.argwhere(~close)]
    shown = ", ".join(
        f"dW{list(ix)}: expected {float(expected[ix]):.6g}, got {float(got[ix]):.6g}"
        for ix in bad[:limit]
    )
    more = f" (and {len(bad) - limit} more)" if len(bad) > limit else ""
    return f"{len(bad)} of {close.size} entries differ: {shown}{more}"


def _shape_of_difference(got, expected, scale, what):
    """'sign flip' / 'factor k' / None, for two arrays that should be equal."""
    if not np.any(np.abs(expected) > 1e-12):
        return None, ""
    if _close(got, -expected, scale):
        return "sign flipped", (
            f"{what} is the exact negative of the expected one (got ≈ -expected): "
            "check the sign of every term (p - 1 for the correct class, +1 for a violated "
            "margin, -(number of violations) for the correct class)"
        )
    k = float(np.vdot(got, expected) / np.vdot(expected, expected))
    if _close(got, k * expected, scale):
        return f"off by a constant factor {k:.4g}", (
            f"{what} is the expected one times a constant factor k = {k:.6g} "
            "(k = N means the mean over the N examples is missing its 1/N; k = 1/N means "
            "dividing by N twice)"
        )
    return None, ""


def explain_gradient_difference(got, expected, W, reg):
    """One or two sentences on how ``got`` differs from ``expected`` (gradients w.r.t. ``W``).

    Names the entries that differ, then whether the whole gradient has its sign flipped or is
    scaled by a constant factor, whether only the regularization part differs (the difference is
    a multiple of W), or else the data part (the gradient of the loss without the penalty), again
    with sign flip / constant factor when that is what it is. Returns ``(kind, sentence)``.
    """
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    scale = float(np.max(np.abs(expected), initial=0.0))
    close = np.isclose(got, expected, rtol=1e-5, atol=1e-7 * max(1.0, scale))
    where = _entries(got, expected, close)
    kind, why = _shape_of_difference(got, expected, scale, "your dW")
    if kind:
        return kind, f"{where}. {why[0].upper()}{why[1:]}."
    diff = got - expected
    if reg > 0 and np.vdot(W, W) > 0:
        alpha = float(np.vdot(diff, W) / np.vdot(W, W))
        if _close(diff, alpha * W, scale):
            coef = 2 * reg + alpha
            return "regularization part", (
                f"{where}. Only the regularization part differs: your dW adds {coef:.6g} * W "
                f"for the penalty reg * sum(W**2), whose gradient is 2 * reg * W = "
                f"{2 * reg:.6g} * W (with reg = {reg:g})."
            )
    data_got, data_expected = got - 2 * reg * W, expected - 2 * reg * W
    kind, why = _shape_of_difference(data_got, data_expected, scale, "the data part of your dW")
    text = f"{where}. The data part (the gradient of the loss without the penalty) differs"
    if reg > 0:
        text += " (your regularization part 2 * reg * W is not the problem, or not the only one)"
    if kind:
        return f"data part {kind}", f"{text}: {why}."
    sums = data_got.sum(axis=1)
    if data_got.ndim == 2 and not np.allclose(sums, 0, atol=1e-6 * max(1.0, scale)):
        text += (
            f"; the rows of its data part should sum to 0 but sum to {summarize(sums)}: every "
            "example pushes its wrong classes' columns one way and its correct class's column "
            "the other way by the same total"
        )
    return "data part", text + "."


def expect_gradient(name, got, expected, W, reg, inputs, against, rtol=None, atol=None):
    """Fail with a teacher's message (and where/how they differ) unless ``got`` matches."""
    g = as_array(name, got, np.shape(W))
    exp = np.asarray(expected, dtype=np.float64)
    if not np.all(np.isfinite(g)):
        raise StudentFailure(
            messages.NOT_FINITE.format(name=name, what="as dW " + not_finite(g))
            + f"\n  input: {summarize_inputs(inputs)}",
            category=messages.NOT_FINITE_CATEGORY.format(what="as dW " + not_finite(g, True)),
        )
    float32 = g.dtype in (np.float32, np.float16)
    r = rtol if rtol is not None else (1e-3 if float32 else 1e-6)
    a = atol if atol is not None else (1e-4 if float32 else 1e-8)
    g64 = g.astype(np.float64)
    if np.allclose(g64, exp, rtol=r, atol=a):
        return
    kind, sentence = explain_gradient_difference(g64, exp, W, reg)
    raise StudentFailure(
        messages.MISMATCH.format(
            name=name,
            where=f" (dW, compared with {against})",
            inputs=summarize_inputs(inputs),
            expected=summarize(exp),
            got=summarize(g64),
            detail=WHERE.format(explanation=sentence),
        ).rstrip(),
        category=GRAD_CATEGORY.format(kind=kind),
    )


def loss_and_grad(student, name, *args, **kwargs):
    out = _pair(name, student.call(name, *args, **kwargs))
    return as_scalar(name, out[0]), out[1]


def _pair(name, out):
    """``out`` if it is a pair (loss, dW), else a type failure."""
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise StudentFailure(
            messages.WRONG_TYPE.format(
                name=name, expected="a tuple (loss, dW)", got=summarize(out)[:80]
            ),
            category="wrong type",
        )
    return out


# -- trusted torch version of the reference loss --------------------------------------------------


def torch_loss_and_grad(name, W, X, y, reg, margin=1.0):
    """Loss and dW by torch autograd of the lecture's loss (trusted side)."""
    Wt = torch.tensor(np.asarray(W, dtype=np.float64), requires_grad=True)
    scores = torch.tensor(np.asarray(X, dtype=np.float64)) @ Wt
    yt = torch.tensor(np.asarray(y), dtype=torch.long)
    if name == "softmax_loss_and_grad":
        data = F.cross_entropy(scores, yt)
    else:
        data = W.shape[1] * F.multi_margin_loss(scores, yt, margin=margin)
    loss = data + reg * torch.sum(Wt**2)
    loss.backward()
    return float(loss.item()), Wt.grad.numpy()


# -- cases ----------------------------------------------------------------------------------------

_rng = np.random.default_rng(7)


def _case(n, d, c):
    W = np.round(_rng.normal(0, 1, (d, c)), 3)
    X = np.round(_rng.normal(0, 1, (n, d)), 3)
    return W, X, _rng.integers(0, c, n)


CASES = {"N=1": _case(1, 3, 4), "C=2": _case(5, 3, 2), "N=C": _case(4, 2, 4)}
CASES["N=7,D=5,C=3"] = _case(7, 5, 3)


def _min_slack(W, X, y, margin):
    S = X @ W
    rows = np.arange(len(y))
    M = S - S[rows, y][:, None] + margin
    M[rows, y] = np.inf
    return float(np.min(np.abs(M)))


# The seed above keeps every hinge term at least 0.25 away from its kink (margins 1 and 2.5).
assert all(_min_slack(*c, m) > 0.2 for c in CASES.values() for m in (1.0, 2.5))


def _inputs(W, X, y, reg, **extra):
    return {"W": W, "X": X, "y": y, "reg": reg, **extra}


# -- comparisons with the reference ---------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.tags("softmax_loss_and_grad")
def test_softmax_grad_reference(student, reference):
    """softmax loss and gradient equal the reference (N = 1, C = 2, N = C; reg 0 and 0.1)"""
    _reference_cases(student, reference, "softmax_loss_and_grad")


@pytest.mark.points(2)
@pytest.mark.tags("svm_loss_and_grad")
def test_svm_grad_reference(student, reference):
    """hinge loss and gradient equal the reference (N = 1, C = 2, N = C; reg 0 and 0.1)"""
    _reference_cases(student, reference, "svm_loss_and_grad")


def _reference_cases(student, reference, name):
    for W, X, y in CASES.values():
        for reg in (0.0, 0.1):
            loss, dW = loss_and_grad(student, name, W, X, y, reg)
            exp_loss, exp_dW = getattr(reference, name)(W.copy(), X.copy(), y.copy(), reg)
            inputs = _inputs(W, X, y, reg)
            expect_close(name, loss, exp_loss, inputs=inputs, what="loss")
            expect_gradient(name, dW, exp_dW, W, reg, inputs, "the reference solution")


@pytest.mark.points(1)
@pytest.mark.tags("svm_loss_and_grad")
def test_svm_grad_margin(student, reference):
    """hinge loss and gradient with margin 2.5"""
    W, X, y = CASES["N=7,D=5,C=3"]
    loss, dW = loss_and_grad(student, "svm_loss_and_grad", W, X, y, 0.05, margin=2.5)
    exp_loss, exp_dW = reference.svm_loss_and_grad(W.copy(), X.copy(), y.copy(), 0.05, 2.5)
    inputs = _inputs(W, X, y, 0.05, margin=2.5)
    expect_close("svm_loss_and_grad", loss, exp_loss, inputs=inputs, what="loss")
    expect_gradient("svm_loss_and_grad", dW, exp_dW, W, 0.05, inputs, "the reference solution")


# -- the kink convention: a hinge term exactly 0 counts as inactive ---------------------------------

KINK_CATEGORY = "wrong gradient at a kink (a hinge term exactly 0 counts as inactive)"
KINK_NOTE = (
    "  at a kink: this input puts hinge terms exactly on their kink, s_j - s_{{y_i}} + margin = 0 "
    "({where}); there a term counts as inactive and adds nothing to dW{counted}"
)
KINK_COUNTED = (
    ". Your dW counts them as active: the gradient needs the same strict > 0 as max(0, .) "
    "in the loss"
)

# Small integers: every score is exact, so the terms listed by _kinks are exactly 0. Each case
# also has active and inactive terms, and a row whose only non-zero term is a kink.
KINK_CASES = (
    (
        np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 2.0]]),
        np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0]]),
        np.array([0, 2, 1, 0]),
        0.0,
        1.0,
    ),
    (
        np.array([[2.0, 0.0, 1.0, -1.0], [1.0, -1.0, 0.0, 2.0]]),
        np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]]),
        np.array([0, 2, 3]),
        0.1,
        2.0,
    ),
)


def _kinks(W, X, y, margin):
    S = X @ W
    rows = np.arange(len(y))
    M = S - S[rows, y][:, None] + margin
    M[rows, y] = np.nan
    return [(int(i), int(j)) for i, j in np.argwhere(M == 0)]


def _hinge_grad(W, X, y, reg, margin, kink_active):
    """dW of the hinge loss, a term at its kink counted as active or not (trusted)."""
    S = X @ W
    rows = np.arange(len(y))
    M = S - S[rows, y][:, None] + margin
    active = (M >= 0 if kink_active else M > 0).astype(np.float64)
    active[rows, y] = 0
    active[rows, y] = -active.sum(axis=1)
    return X.T @ active / len(y) + 2 * reg * W


# Each case has at least two kinks, and counting them as active changes dW.
assert all(len(_kinks(*c[:3], c[4])) >= 2 for c in KINK_CASES)
assert not any(np.allclose(_hinge_grad(*c, True), _hinge_grad(*c, False)) for c in KINK_CASES)


@pytest.mark.points(0.5)
@pytest.mark.tags("svm_loss_and_grad")
def test_svm_grad_at_a_kink(student, reference):
    """hinge gradient: a term exactly at its kink (s_j - s_y + margin = 0) counts as inactive"""
    name = "svm_loss_and_grad"
    for W, X, y, reg, margin in KINK_CASES:
        got = _pair(name, student.call(name, W, X, y, reg, margin=margin))
        exp_loss, exp_dW = reference.svm_loss_and_grad(W.copy(), X.copy(), y.copy(), reg, margin)
        inputs = _inputs(W, X, y, reg, margin=margin)
        expect_close(name, as_scalar(name, got[0]), exp_loss, inputs=inputs, what="loss")
        try:
            expect_gradient(name, got[1], exp_dW, W, reg, inputs, "the reference solution")
        except StudentFailure as fail:
            where = ", ".join(f"row {i} class {j}" for i, j in _kinks(W, X, y, margin))
            dW = np.asarray(got[1], dtype=np.float64)
            counted = _close(dW, _hinge_grad(W, X, y, reg, margin, True), 1.0)
            fail.message += "\n" + KINK_NOTE.format(
                where=where, counted=KINK_COUNTED if counted else ""
            )
            fail.args = (fail.message,)
            fail.category = KINK_CATEGORY
            raise with_hint(fail, name, (W, X, y, reg), {"margin": margin}, got) from None


@pytest.mark.points(0.5)
@pytest.mark.tags("softmax_loss_and_grad")
def test_softmax_grad_huge_scores(student, reference):
    """softmax loss and gradient stay finite and correct for scores up to 1e4"""
    W = np.array([[2000.0, -1000.0, 0.0], [0.0, 1500.0, -2500.0]])
    X = np.array([[4.0, 1.0], [-1.0, 3.0], [0.5, -4.0]])
    y = np.array([2, 0, 1])
    compare(
        student,
        reference,
        "softmax_loss_and_grad",
        W,
        X,
        y,
        0.0,
        parts=("loss", "dW"),
        kinds=("value", "grad"),
    )


@pytest.mark.points(0.5)
@pytest.mark.tags("svm_loss_and_grad")
def test_svm_grad_huge_scores(student, reference):
    """hinge loss and gradient for scores up to 1e4"""
    W = np.array([[2000.0, -1000.0, 0.0], [0.0, 1500.0, -2500.0]])
    X = np.array([[4.0, 1.0], [-1.0, 3.0], [0.5, -4.0]])
    y = np.array([2, 0, 1])
    compare(
        student,
        reference,
        "svm_loss_and_grad",
        W,
        X,
        y,
        0.0,
        parts=("loss", "dW"),
        kinds=("value", "grad"),
    )


@pytest.mark.points(1)
@pytest.mark.tags("softmax_loss_and_grad")
def test_softmax_grad_leaves_inputs(student):
    """softmax loss and gradient leave W, X and y unchanged"""
    student.softmax_loss_and_grad(*CASES["N=C"], 0.1)
    expect_unchanged("softmax_loss_and_grad", student.mutated, ("W", "X", "y", "reg"))


@pytest.mark.points(1)
@pytest.mark.tags("svm_loss_and_grad")
def test_svm_grad_leaves_inputs(student):
    """hinge loss and gradient leave W, X and y unchanged"""
    student.svm_loss_and_grad(*CASES["N=C"], 0.1)
    expect_unchanged("svm_loss_and_grad", student.mutated, ("W", "X", "y", "reg"))


# -- (a) torch autograd of the reference loss -----------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.tags("softmax_loss_and_grad")
def test_softmax_grad_torch(student):
    """softmax gradient equals torch autograd of cross_entropy + reg * sum(W**2)"""
    _torch_cases(student, "softmax_loss_and_grad", 1.0)


@pytest.mark.points(2)
@pytest.mark.tags("svm_loss_and_grad")
def test_svm_grad_torch(student):
    """hinge gradient equals torch autograd of C * multi_margin_loss + reg * sum(W**2)"""
    _torch_cases(student, "svm_loss_and_grad", 2.5)


def _torch_cases(student, name, margin):
    for W, X, y in CASES.values():
        extra = {"margin": margin} if name == "svm_loss_and_grad" else {}
        loss, dW = loss_and_grad(student, name, W, X, y, 0.2, **extra)
        exp_loss, exp_dW = torch_loss_and_grad(name, W, X, y, 0.2, margin)
        inputs = _inputs(W, X, y, 0.2, **extra)
        expect_close(name, loss, exp_loss, inputs=inputs, what="loss, compared with torch")
        expect_gradient(name, dW, exp_dW, W, 0.2, inputs, "torch autograd")


# -- (b) numeric gradient of the student's own loss -----------------------------------------------


@pytest.mark.points(2)
@pytest.mark.tags("softmax_loss_and_grad")
def test_softmax_grad_numeric(student, reference):
    """softmax gradient agrees with the numeric gradient of your own loss"""
    _numeric_case(student, reference, "softmax_loss_and_grad")


@pytest.mark.points(2)
@pytest.mark.tags("svm_loss_and_grad")
def test_svm_grad_numeric(student, reference):
    """hinge gradient agrees with the numeric gradient of your own loss"""
    _numeric_case(student, reference, "svm_loss_and_grad")


#: Step and tolerances of the numeric-gradient check, by the precision of the student's loss.
#: A float32 loss is rounded to about 1e-7 of its value, so differences over h = 1e-5 are mostly
#: rounding (errors near 1e-2); h = 1e-2 balances rounding against the O(h^2) truncation (errors
#: near 2e-5 on these cases, which stay clear of the hinge's kinks by more than 10 h).
NUMERIC = {64: (1e-5, 1e-5, 1e-7), 32: (1e-2, 1e-3, 1e-4)}


def _numeric_case(student, reference, name):
    W, X, y = CASES["N=C"]
    reg = 0.05
    loss, dW = _pair(name, student.call(name, W, X, y, reg))
    h, rtol, atol = NUMERIC[_bits(loss, dW)]

    def own_loss(Wk):
        """your loss as a function of W"""
        return loss_and_grad(student, name, Wk, X, y, reg)[0]

    numeric = reference.numeric_gradient(own_loss, W.copy(), h)
    expect_gradient(
        name,
        dW,
        numeric,
        W,
        reg,
        _inputs(W, X, y, reg),
        f"centered differences (h = {h:g}) of your own loss",
        rtol=rtol,
        atol=atol,
    )


# -- (c) and (d): properties ----------------------------------------------------------------------

_vals = st.floats(-3, 3, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def problems(draw):
    n, d, c = draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(2, 5))
    W = draw(hnp.arrays(np.float64, (d, c), elements=_vals))
    X = draw(hnp.arrays(np.float64, (n, d), elements=_vals))
    y = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    return W, X, y


def _kink_free(name, W, X, y):
    return name != "svm_loss_and_grad" or _min_slack(W, X, y, 1.0) > 1e-4


@pytest.mark.points(1)
@pytest.mark.tags("softmax_loss_and_grad")
@settings(max_examples=12)
@given(problem=problems())
def test_softmax_grad_rows_sum_to_zero(student, problem):
    """softmax gradient: the rows of dW sum to 0 when reg = 0"""
    _rows_sum_to_zero(student, "softmax_loss_and_grad", *problem)


@pytest.mark.points(1)
@pytest.mark.tags("svm_loss_and_grad")
@settings(max_examples=12)
@given(problem=problems())
def test_svm_grad_rows_sum_to_zero(student, problem):
    """hinge gradient: the rows of dW sum to 0 when reg = 0"""
    _rows_sum_to_zero(student, "svm_loss_and_grad", *problem)


def _rows_sum_to_zero(student, name, W, X, y):
    assume(_kink_free(name, W, X, y))
    _, dW = loss_and_grad(student, name, W, X, y, 0.0)
    dW = as_array(name, dW, W.shape)
    atol = 1e-6 if _bits(dW) == 64 else 1e-4  # float32 sums keep about 7 digits
    dW = dW.astype(np.float64)
    sums = dW.sum(axis=1)
    scale = max(1.0, float(np.max(np.abs(X), initial=0.0)))
    if not np.allclose(sums, 0.0, atol=atol * scale):
        raise StudentFailure(
            messages.PROPERTY.format(
                name=name,
                prop=(
                    "with reg = 0 every row of dW sums to 0 (each example adds to the columns of "
                    "its wrong classes exactly what it takes from its correct class's column)"
                ),
                inputs=f"{summarize_inputs(_inputs(W, X, y, 0.0))}\n  row sums of your dW: "
                f"{summarize(sums)}",
            ),
            category=GRAD_CATEGORY.format(kind="correct-class column"),
        )


@pytest.mark.points(0.5)
@pytest.mark.tags("softmax_loss_and_grad")
@settings(max_examples=12)
@given(problem=problems(), reg=st.floats(0.01, 2.0))
def test_softmax_grad_reg_part(student, problem, reg):
    """softmax gradient: dW(reg) - dW(0) = 2 * reg * W"""
    _reg_part(student, "softmax_loss_and_grad", *problem, reg)


@pytest.mark.points(0.5)
@pytest.mark.tags("svm_loss_and_grad")
@settings(max_examples=12)
@given(problem=problems(), reg=st.floats(0.01, 2.0))
def test_svm_grad_reg_part(student, problem, reg):
    """hinge gradient: dW(reg) - dW(0) = 2 * reg * W"""
    _reg_part(student, "svm_loss_and_grad", *problem, reg)


def _reg_part(student, name, W, X, y, reg):
    assume(_kink_free(name, W, X, y))
    _, d0 = loss_and_grad(student, name, W, X, y, 0.0)
    _, dr = loss_and_grad(student, name, W, X, y, reg)
    d0, dr = as_array(name, d0, W.shape), as_array(name, dr, W.shape)
    # float32: the difference of two gradients keeps their absolute rounding error.
    size = max(1.0, float(np.max(np.abs(dr), initial=0.0)))
    rtol, atol = (1e-6, 1e-8) if _bits(d0, dr) == 64 else (1e-3, 1e-4 * size)
    d0, dr = d0.astype(np.float64), dr.astype(np.float64)
    got, expected = dr - d0, 2 * reg * W
    if np.allclose(got, expected, rtol=rtol, atol=atol):
        return
    scale = float(np.max(np.abs(expected), initial=0.0))
    close = np.isclose(got, expected, rtol=rtol, atol=atol)
    wrong = "your difference is not a multiple of W"
    if np.vdot(W, W) > 0:
        alpha = float(np.vdot(got, W) / np.vdot(W, W))
        if _close(got, alpha * W, scale):
            wrong = f"your difference is {alpha:.6g} * W, expected {2 * reg:.6g} * W"
    raise StudentFailure(
        messages.PROPERTY.format(
            name=name,
            prop="the penalty reg * sum(W**2) adds exactly 2 * reg * W to dW",
            inputs=f"{summarize_inputs(_inputs(W, X, y, reg))}\n  "
            f"{_entries(got, expected, close)} (comparing dW(reg) - dW(0) with 2 * reg * W); "
            f"{wrong}",
        ),
        category=GRAD_CATEGORY.format(kind="regularization part"),
    )


# -- numeric_gradient -----------------------------------------------------------------------------


class Recorder:
    """A trusted scalar function that counts its calls and keeps a copy of every input."""

    def __init__(self, fn, doc):
        self.fn = fn
        self.__doc__ = doc
        self.seen = []

    def __call__(self, x):
        x = np.array(x, dtype=np.float64, copy=True)
        self.seen.append(x)
        return float(self.fn(x))


def quadratic(shape):
    n = int(np.prod(shape))
    c = (1.0 + np.arange(n) % 3).reshape(shape)
    b = np.linspace(-1, 1, n).reshape(shape)
    x = (np.linspace(0.7, 2.3, n) * np.where(np.arange(n) % 2 == 0, 1, -1)).reshape(shape)
    f = Recorder(lambda v: np.sum(c * v**2 + b * v), "f(x) = sum(c * x**2 + b * x)")
    return f, x, 2 * c * x + b


def _numeric(student, f, x, *h):
    kw = {"h": h[0]} if h else {}
    return as_array("numeric_gradient", student.numeric_gradient(f, x, **kw), x.shape)


@pytest.mark.points(2)
@pytest.mark.tags("numeric_gradient")
def test_numeric_exact_on_quadratic(student):
    """numeric gradient is exact on a quadratic (centered differences)"""
    f, x, grad = quadratic((5,))
    got = _numeric(student, f, x)
    expect_close(
        "numeric_gradient",
        got,
        grad,
        inputs={"f": f, "x": x},
        kind="grad",
        rtol=1e-8,
        atol=1e-10,
        what="centered differences are exact on a quadratic up to rounding (~1e-10); a "
        "one-sided difference is off by about h",
    )


@pytest.mark.points(1)
@pytest.mark.tags("numeric_gradient")
def test_numeric_any_shape(student):
    """numeric gradient works for 2-d and 3-d arrays"""
    for shape in ((2, 3), (2, 2, 3)):
        f, x, grad = quadratic(shape)
        got = _numeric(student, f, x)
        expect_close(
            "numeric_gradient",
            got,
            grad,
            inputs={"f": f, "x": x},
            kind="grad",
            rtol=1e-7,
            atol=1e-9,
        )


@pytest.mark.points(1)
@pytest.mark.tags("numeric_gradient")
def test_numeric_linear(student):
    """numeric gradient of a linear function is its coefficient vector"""
    a = np.array([[3.0, -1.5], [0.25, 2.0]])
    f = Recorder(lambda v: np.sum(a * v), "f(x) = sum(a * x) with a = [[3, -1.5], [0.25, 2]]")
    x = np.array([[0.5, -2.0], [1.0, 4.0]])
    got = _numeric(student, f, x)
    expect_close("numeric_gradient", got, a, inputs={"f": f, "x": x}, kind="grad", rtol=1e-8)


@pytest.mark.points(1)
@pytest.mark.tags("numeric_gradient")
def test_numeric_step_h(student, reference):
    """numeric gradient uses the step h it is given (h = 0.01 on a cubic)"""
    f = Recorder(lambda v: np.sum(v**3), "f(x) = sum(x**3)")
    x = np.array([0.5, -1.0, 2.0])
    got = _numeric(student, f, x, 0.01)
    # Centered differences on x**3 give 3 x^2 + h^2: the step shows in the result.
    expect_close(
        "numeric_gradient",
        got,
        3 * x**2 + 0.01**2,
        inputs={"f": f, "x": x, "h": 0.01},
        kind="grad",
        rtol=1e-8,
        atol=1e-10,
    )


@pytest.mark.points(1)
@pytest.mark.tags("numeric_gradient")
def test_numeric_two_calls_per_element(student):
    """numeric gradient calls f exactly twice per element"""
    f, x, _ = quadratic((2, 3))
    _numeric(student, f, x)
    if len(f.seen) != 2 * x.size:
        raise StudentFailure(
            f"`numeric_gradient` should call f exactly twice per element of x (f(x + h e_k) "
            f"and f(x - h e_k)): x has {x.size} elements, so {2 * x.size} calls; "
            f"your code called f {len(f.seen)} times.\n  input: x of shape {x.shape}",
            category="wrong number of calls",
        )


@pytest.mark.points(1)
@pytest.mark.tags("numeric_gradient")
def test_numeric_leaves_x(student):
    """numeric gradient leaves x holding its original values"""
    f, x, _ = quadratic((2, 3))
    student.numeric_gradient(f, x)
    expect_unchanged("numeric_gradient", student.mutated, ("f", "x", "h"))


@pytest.mark.points(1)
@pytest.mark.tags("numeric_gradient")
def test_numeric_perturbs_one_element(student):
    """numeric gradient evaluates f at x + h e_k and x - h e_k of the original x"""
    f, x, _ = quadratic((2, 3))
    h = 1e-4
    _numeric(student, f, x, h)
    steps = {}
    for seen in f.seen:
        diff = np.asarray(seen).reshape(x.shape) - x if np.size(seen) == x.size else None
        nonzero = [] if diff is None else np.argwhere(np.abs(diff) > h / 10)
        ok = (
            diff is not None
            and len(nonzero) == 1
            and np.isclose(abs(diff[tuple(nonzero[0])]), h, rtol=1e-6)
            and np.allclose(np.delete(diff.ravel(), np.ravel_multi_index(nonzero[0], x.shape)), 0)
        )
        if not ok:
            raise StudentFailure(
                "`numeric_gradient` called f at a point that is not the original x with exactly "
                f"one element moved by +h or -h (h = {h:g}).\n  original x: {summarize(x)}\n"
                f"  f was called at: {summarize(np.asarray(seen))}\n  hint: restore x[k] after "
                "both evaluations (or perturb a fresh copy for each one)",
                category="x not restored between evaluations",
            )
        key = tuple(int(i) for i in nonzero[0])
        steps.setdefault(key, set()).add(int(np.sign(diff[key])))
    missing = [k for k in np.ndindex(x.shape) if steps.get(k) != {1, -1}]
    if missing:
        raise StudentFailure(
            f"`numeric_gradient` should evaluate f at x + h e_k and at x - h e_k for every "
            f"element k; for element {list(missing[0])} it did not (of x with shape {x.shape})",
            category="wrong evaluation points",
        )


# -- relative_error -------------------------------------------------------------------------------


REL_CASES = (
    (np.array([1.0, -2.0, 3.0, 4.0]), np.array([1.1, -2.0, 2.5, 4.0])),
    (np.array([[1e-3, 2.0], [5.0, -1.0]]), np.array([[2e-3, 2.0], [5.0, 1.0]])),
    (np.array([0.0, 1.0, 2.0]), np.array([1e-6, 1.0, 2.0])),
    (np.full((2, 2, 2), 0.5), np.full((2, 2, 2), 0.5) + np.arange(8).reshape(2, 2, 2) * 0.01),
)


@pytest.mark.points(2)
@pytest.mark.tags("relative_error")
def test_relative_error_formula(student, reference):
    """relative error is the max over elements of |a - b| / max(1e-8, |a| + |b|)"""
    for a, b in REL_CASES:
        compare(student, reference, "relative_error", a, b, rtol=1e-6)


@pytest.mark.points(1)
@pytest.mark.tags("relative_error")
def test_relative_error_equal(student):
    """relative error of two equal arrays is 0"""
    a = np.array([[1.5, -2.0], [3.0, 1e-3]])
    got = as_scalar("relative_error", student.relative_error(a, a.copy()))
    expect_close("relative_error", got, 0.0, inputs={"a": a, "b": a}, atol=1e-15)


@pytest.mark.points(1)
@pytest.mark.tags("relative_error")
def test_relative_error_zeros(student):
    """relative error of two zero arrays is 0 (the 1e-8 floor avoids 0 / 0)"""
    a = np.zeros(3)
    got = as_scalar("relative_error", student.relative_error(a, a.copy()))
    expect_close("relative_error", got, 0.0, inputs={"a": a, "b": a}, atol=1e-15)


@pytest.mark.points(1)
@pytest.mark.tags("relative_error")
def test_relative_error_leaves_inputs(student):
    """relative error leaves a and b unchanged"""
    student.relative_error(*REL_CASES[0])
    expect_unchanged("relative_error", student.mutated, ("a", "b"))


# -- gradient_check -------------------------------------------------------------------------------


def _grad_check(student, f, grad_f, x, **kw):
    got = student.gradient_check(f, grad_f, x, **kw)
    if (
        not isinstance(got, (tuple, list))
        or len(got) != 2
        or not isinstance(got[0], (bool, np.bool_))
    ):
        raise StudentFailure(
            messages.WRONG_TYPE.format(
                name="gradient_check",
                expected="a tuple (passed: bool, error)",
                got=summarize(got)[:80],
            ),
            category="wrong type",
        )
    return bool(got[0]), as_scalar("gradient_check", got[1])


def _square():
    return Recorder(lambda v: np.sum(v**2), "f(x) = sum(x**2)")


def _times(k, doc):
    def grad(x):
        return k * np.asarray(x, dtype=np.float64)

    grad.__doc__ = doc
    return grad


X0 = np.array([[1.0, -2.0], [0.5, 3.0]])


def _expect_passed(got, expected, f, grad_f, x, **kw):
    if got != expected:
        raise StudentFailure(
            f"`gradient_check` should return passed = {expected} (error < tol) for "
            f"{f.__doc__}, grad_f(x) = {grad_f.__doc__}, x = {summarize(x)}"
            + (f", {summarize_inputs(kw)}" if kw else "")
            + f"; it returned passed = {got}",
            category="wrong pass/fail decision",
        )


@pytest.mark.points(1)
@pytest.mark.tags("gradient_check")
def test_gradient_check_correct_gradient(student):
    """gradient check accepts the correct gradient (passed, error about 0)"""
    f, grad_f = _square(), _times(2.0, "2 x (correct)")
    passed, error = _grad_check(student, f, grad_f, X0)
    expect_close("gradient_check", error, 0.0, inputs={"f": f, "x": X0}, atol=1e-8, what="error")
    _expect_passed(passed, True, f, grad_f, X0)


@pytest.mark.points(2)
@pytest.mark.tags("gradient_check")
def test_gradient_check_wrong_gradient(student, reference):
    """gradient check rejects a wrong gradient and reports its relative error"""
    f = _square()

    def grad_f(x):
        """2 x, except 6 x for the first element (one wrong entry)"""
        g = 2 * np.asarray(x, dtype=np.float64)
        g.flat[0] *= 3
        return g

    passed, error = _grad_check(student, f, grad_f, X0)
    _, expected = reference.gradient_check(_square(), grad_f, X0.copy())
    expect_close("gradient_check", error, expected, inputs={"x": X0}, what="error")
    _expect_passed(passed, False, f, grad_f, X0)


@pytest.mark.points(1)
@pytest.mark.tags("gradient_check")
def test_gradient_check_tol(student):
    """gradient check compares the error with the tol it is given"""
    grad_f = _times(2.0 * (1 + 1e-4), "2.0002 x (off by 1e-4 relative)")
    f = _square()
    passed, _ = _grad_check(student, f, grad_f, X0, tol=1e-3)
    _expect_passed(passed, True, f, grad_f, X0, tol=1e-3)
    passed, _ = _grad_check(student, f, grad_f, X0)
    _expect_passed(passed, False, f, grad_f, X0, tol="1e-6 (default)")


@pytest.mark.points(1)
@pytest.mark.tags("gradient_check")
def test_gradient_check_error_equal_to_tol(student):
    """gradient check: passed = error < tol, strictly, so an error exactly equal to tol fails"""
    # Dyadic numbers and h = 0.5 make every step exact: the numeric gradient of sum(c * x) is c,
    # and the relative error of 3c against c is |3c - c| / (|3c| + |c|) = 0.5 exactly.
    c = np.array([[1.0, -2.0], [0.5, 4.0]])
    f = Recorder(lambda v: np.sum(c * v), "f(x) = sum(c * x), c = [[1, -2], [0.5, 4]]")

    def grad_f(x):
        """3 c (every entry three times the true gradient c)"""
        return 3 * c

    x = np.array([[0.5, -1.0], [2.0, 0.25]])
    passed, error = _grad_check(student, f, grad_f, x, h=0.5, tol=0.5)
    inputs = {"f": f, "grad_f": grad_f, "x": x, "h": 0.5, "tol": 0.5}
    expect_close("gradient_check", error, 0.5, inputs=inputs, what="error")
    if passed:
        raise StudentFailure(
            "`gradient_check` returned passed = True for an error exactly equal to tol "
            "(error = tol = 0.5): passed is error < tol, a strict comparison, so here it is "
            f"False.\n  input: {summarize_inputs(inputs)}",
            category="wrong pass/fail decision at error == tol",
        )


@pytest.mark.points(1)
@pytest.mark.tags("gradient_check")
def test_gradient_check_h(student, reference):
    """gradient check passes the step h on to the numeric gradient"""
    f = Recorder(lambda v: np.sum(v**3), "f(x) = sum(x**3)")

    def cube_grad(x):
        """3 x**2"""
        return 3 * np.asarray(x, dtype=np.float64) ** 2

    _, error = _grad_check(student, f, cube_grad, X0, h=0.1)
    _, expected = reference.gradient_check(f, cube_grad, X0.copy(), h=0.1)
    expect_close(
        "gradient_check", error, expected, inputs={"f": f, "x": X0, "h": 0.1}, what="error"
    )


@pytest.mark.points(1)
@pytest.mark.tags("gradient_check")
def test_gradient_check_calls(student):
    """gradient check calls f exactly twice per element of x"""
    f = _square()
    _grad_check(student, f, _times(2.0, "2 x"), X0)
    if len(f.seen) != 2 * X0.size:
        raise StudentFailure(
            f"`gradient_check` should evaluate f exactly 2 * x.size = {2 * X0.size} times (through "
            f"numeric_gradient); it called f {len(f.seen)} times.\n  input: x of shape {X0.shape}",
            category="wrong number of calls",
        )


@pytest.mark.points(1)
@pytest.mark.tags("gradient_check")
def test_gradient_check_leaves_x(student):
    """gradient check leaves x unchanged"""
    student.gradient_check(_square(), _times(2.0, "2 x"), X0)
    expect_unchanged("gradient_check", student.mutated, ("f", "grad_f", "x"))
