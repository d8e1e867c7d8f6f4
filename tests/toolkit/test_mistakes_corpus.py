"""Each entry of tests/corpus/mistakes is wrong by exactly the mistakes of its label.

The corpus measures hints (test_hint_quality.py) only if its labels are true. Here, in this
process (the corpus is ours, not student code), every entry is run beside a model: the
reference's formula with the labelled mistakes put in (the shift, log of a probability, the 0.5 *
reg convention, the kink, the correct class counted, dW not averaged, Adam's bias correction), on
ordinary inputs and on scores of 1e4 in magnitude. It must agree with the model wherever the
model's answer is finite (so its mistakes are no more than the label's). Where students write
a mistake many ways
(regularization missing or written wrong, the svm penalty's gradient), the entry must differ
from the model only by a term that does not depend on the data X and y. A correct variant
agrees with the reference; a crash raises what its label says it shows.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import hint_quality as hq
import numpy as np
import pytest
import torch

from grader.grading.reference import load_modules

#: Mistakes that are the same computation however a student writes them: modelled exactly.
MODELLED = frozenset(
    {
        "log-of-p",
        "no-shift",
        "global-max",
        "half-reg",
        "kink-active",
        "svm-grad-counts-yi",
        "grad-not-averaged",
    }
)
#: Mistakes written many ways, all in the regularization: a difference that ignores X and y.
REG_ONLY = frozenset({"reg-wrong", "svm-reg-grad"})


@cache
def entry_function(name: str) -> Any:
    entry = next(e for e in hq.load() if e.name == name)
    source = (hq.SOLUTIONS / f"{entry.module}.py").read_text(encoding="utf-8")
    source += "\n\n" + entry.path.read_text(encoding="utf-8")
    modules = load_modules(hq.SOLUTIONS, {f"{entry.module}.py": source}, only=[entry.module])
    return getattr(modules[entry.module], entry.function)


# -- inputs ---------------------------------------------------------------------------------------


def linear_inputs(seed: int, scale: float = 1.0) -> tuple[np.ndarray, ...]:
    """W (5, 4), X (8, 5), y (8,), every class present; ``scale`` makes scores up to ~1e4."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(5, 4))
    X = rng.normal(size=(8, 5)) * scale
    y = np.arange(8) % 4
    rng.shuffle(y)
    return W, X, y


def huge_scores(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores up to 1e4 whose correct class sits far below its row's best, and one row far below
    the others (row shift, global shift and log of a probability all go wrong here)."""
    rng = np.random.default_rng(seed)
    S = rng.normal(size=(6, 4)) * 3
    S[0] = [1e4, -1e4, 0.0, 5e3]
    S[1] -= 2e3
    return S, np.array([1, 0, 2, 3, 1, 2])


# -- models ---------------------------------------------------------------------------------------


def softmax_model(S: np.ndarray, labels: frozenset[str]) -> np.ndarray:
    with np.errstate(all="ignore"):
        if "no-shift" in labels:
            shifted = S
        elif "global-max" in labels:
            shifted = S - S.max()
        else:
            shifted = S - S.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        return e / e.sum(axis=1, keepdims=True)


def ce_model(S: np.ndarray, y: np.ndarray, labels: frozenset[str]) -> float:
    rows = np.arange(len(y))
    with np.errstate(all="ignore"):
        if "log-of-p" in labels:
            return float(-np.mean(np.log(softmax_model(S, labels)[rows, y])))
        if "no-shift" in labels:
            m = np.zeros((len(y), 1))
        elif "global-max" in labels:
            m = np.full((len(y), 1), S.max())
        else:
            m = S.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(S - m).sum(axis=1))
        return float(np.mean(lse - S[rows, y]))


def smgrad_model(
    W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float, labels: frozenset[str]
) -> tuple[float, np.ndarray]:
    S = X @ W
    half = "half-reg" in labels
    loss = ce_model(S, y, labels) + (0.5 if half else 1.0) * reg * np.sum(W * W)
    with np.errstate(all="ignore"):
        dS = softmax_model(S, labels)
        dS[np.arange(len(y)), y] -= 1
        if "grad-not-averaged" not in labels:
            dS /= len(y)
        return loss, X.T @ dS + (1.0 if half else 2.0) * reg * W


def svmgrad_model(
    W: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    reg: float,
    margin: float,
    labels: frozenset[str],
) -> tuple[float, np.ndarray]:
    N, rows = len(y), np.arange(len(y))
    S = X @ W
    M = S - S[rows, y][:, None] + margin
    own = np.zeros_like(M, dtype=bool)
    own[rows, y] = True
    half = "half-reg" in labels
    loss = np.sum(np.maximum(0, M)[~own]) / N + (0.5 if half else 1.0) * reg * np.sum(W * W)
    active = ((M >= 0) if "kink-active" in labels else (M > 0)) & ~own
    if "svm-grad-counts-yi" in labels:
        active |= own & (M > 0)
    dS = active.astype(float)
    dS[rows, y] = -active.sum(axis=1)
    return loss, X.T @ dS / N + (1.0 if half else 2.0) * reg * W


def adam_model(
    w: np.ndarray,
    dw: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    t: int,
    correct_m: bool,
    correct_v: bool,
) -> np.ndarray:
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8
    m_new = b1 * m + (1 - b1) * dw
    v_new = b2 * v + (1 - b2) * dw * dw
    m_hat = m_new / (1 - b1**t) if correct_m else m_new
    v_hat = v_new / (1 - b2**t) if correct_v else v_new
    return w - lr * m_hat / (np.sqrt(v_hat) + eps)


# -- comparing ----------------------------------------------------------------------------------


def agree(got: Any, want: Any) -> bool:
    """Same shape, and close wherever ``want`` is finite (where the model overflows, a student's
    overflow may come out as inf, nan or a wrong finite number alike)."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if got.shape != want.shape:
        return False
    fine = np.isfinite(want)
    return bool(np.allclose(got[fine], want[fine], rtol=1e-9, atol=1e-10))


def check_like(
    call: Callable[..., Any], model: Callable[..., Any], inputs: list[tuple[Any, ...]]
) -> None:
    for args in inputs:
        with np.errstate(all="ignore"):
            got, want = call(*args), model(*args)
        for g, w in zip(got, want, strict=True) if isinstance(want, tuple) else [(got, want)]:
            assert agree(g, w), f"input {args!r}:\n got {g!r}\nwant {w!r}"


def check_reg_only(
    call: Callable[..., Any], model: Callable[..., Any], entry: hq.Entry, reg: float
) -> None:
    """Outside the modelled mistakes the entry differs from the model by a term of W (and
    reg, N) alone: the same for two data sets of the same size, and not zero."""
    W, X1, y1 = linear_inputs(1)
    _, X2, y2 = linear_inputs(2)
    diffs = []
    for X, y in ((X1, y1), (X2, y2)):
        got, want = call(W, X, y, reg), model(W, X, y, reg)
        diffs.append(
            [np.asarray(g, dtype=float) - np.asarray(w) for g, w in zip(got, want, strict=True)]
        )
    for a, b in zip(*diffs, strict=True):
        assert np.allclose(a, b, rtol=1e-9, atol=1e-10), (
            f"{entry.name}: the difference depends on X, y"
        )
    assert any(np.abs(d).max() > 1e-6 for d in diffs[0]), f"{entry.name}: no difference"
    if "svm-reg-grad" in entry.labels and "reg-wrong" not in entry.labels:
        assert abs(diffs[0][0]) < 1e-10, f"{entry.name}: its loss is wrong too"


# -- the checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", hq.load(), ids=lambda e: e.name)
def test_entry_is_wrong_only_by_its_labels(entry: hq.Entry) -> None:
    fn = entry_function(entry.name)
    if "crash" in entry.labels:
        W, X, y = linear_inputs(0)
        args: tuple[Any, ...] = (W, X, y, 0.1)
        if entry.module == "torch_losses":
            args = (torch.tensor(X @ W, requires_grad=True), torch.tensor(y))
        with pytest.raises(Exception) as caught:
            fn.apply(*args) if entry.module == "torch_losses" else fn(*args)
        shown = f"{type(caught.value).__name__}: {caught.value}"
        assert entry.shows.lower() in shown.lower(), shown
        return
    labels = entry.labels
    free = labels & REG_ONLY
    assert labels - free <= MODELLED or entry.function == "adam_step", labels
    check = {
        "softmax": _check_softmax,
        "cross_entropy_loss": _check_ce,
        "softmax_loss_and_grad": _check_smgrad,
        "svm_loss_and_grad": _check_svmgrad,
        "adam_step": _check_adam,
        "SoftmaxCrossEntropy": _check_sce,
        "MulticlassHinge": _check_hinge,
    }[entry.function]
    check(entry, fn, labels)
    if free:
        model = {"softmax_loss_and_grad": smgrad_model, "svm_loss_and_grad": svmgrad_model}[
            entry.function
        ]
        extra = (1.0,) if entry.function == "svm_loss_and_grad" else ()
        check_reg_only(
            lambda *a: fn(*a, *extra), lambda *a: model(*a, *extra, labels - free), entry, 0.3
        )


def _check_softmax(entry: hq.Entry, fn: Any, labels: frozenset[str]) -> None:
    inputs = [(linear_inputs(0)[1],), (huge_scores(0)[0],)]
    check_like(fn, lambda S: softmax_model(S, labels), inputs)


def _check_ce(entry: hq.Entry, fn: Any, labels: frozenset[str]) -> None:
    W, X, y = linear_inputs(0)
    inputs = [(X @ W, y), huge_scores(0)]
    check_like(fn, lambda S, y: ce_model(S, y, labels), inputs)


def _check_smgrad(entry: hq.Entry, fn: Any, labels: frozenset[str]) -> None:
    if labels & REG_ONLY:
        return  # some add a penalty even at reg = 0 (sum(W*W) without reg): check_reg_only
    inputs = [(*linear_inputs(0), 0.3), (*linear_inputs(3, scale=2000.0), 0.3)]
    check_like(fn, lambda W, X, y, reg: smgrad_model(W, X, y, reg, labels), inputs)


def _check_svmgrad(entry: hq.Entry, fn: Any, labels: frozenset[str]) -> None:
    W, X, y = linear_inputs(0)
    # a kink: an integer W and X make every margin an integer, many of them exactly 0
    Wk = np.array([[1.0, 0, -1, 2], [0, 1, 1, -1], [2, -1, 0, 0], [0, 0, 1, 1], [1, 1, 0, -1]])
    Xk = np.array([[1.0, 0, 1, 0, 0], [0, 1, 0, 1, 1], [1, 1, 0, 0, 1], [0, 0, 1, 1, 0]])
    yk = np.array([0, 1, 2, 3])
    kinks = svmgrad_model(Wk, Xk, yk, 0.2, 1.0, frozenset({"kink-active"}))[1]
    assert not agree(kinks, svmgrad_model(Wk, Xk, yk, 0.2, 1.0, frozenset())[1])
    inputs = [(W, X, y, 0.3, 1.0), (W, X, y, 0.0, 2.5), (Wk, Xk, yk, 0.2, 1.0)]
    if labels & REG_ONLY:  # the data part alone here; check_reg_only compares the rest
        inputs = [(W, X, y, 0.0, 1.0), (W, X, y, 0.0, 2.5), (Wk, Xk, yk, 0.0, 1.0)]
    modelled = labels - REG_ONLY
    check_like(fn, lambda W, X, y, r, m: svmgrad_model(W, X, y, r, m, modelled), inputs)


def _check_adam(entry: hq.Entry, fn: Any, labels: frozenset[str]) -> None:
    rng = np.random.default_rng(0)
    w, dw, m = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 4)) * 0.1
    v = np.abs(rng.normal(size=(3, 4))) * 0.01
    ways = {(True, True)}
    if "adam-no-bias" in labels:
        ways = {(False, False), (True, False), (False, True)}
    for t in (1, 2, 7):
        got = fn(w.copy(), dw.copy(), m.copy(), v.copy(), t)
        assert agree(got[1], 0.9 * m + 0.1 * dw) and agree(got[2], 0.999 * v + 0.001 * dw * dw)
        step = 1 if "adam-t-fixed" in labels else t
        models = [adam_model(w, dw, m, v, step, cm, cv) for cm, cv in ways]
        assert any(agree(got[0], want) for want in models), f"t={t}: {got[0]!r}"


def _check_sce(entry: hq.Entry, fn: Any, labels: frozenset[str]) -> None:
    W, X, y = linear_inputs(0)
    for S, labels_y in ((X @ W, y), huge_scores(0)):
        scores = torch.tensor(S, requires_grad=True)
        loss = fn.apply(scores, torch.tensor(labels_y))
        loss.backward()
        assert agree(loss.detach().numpy(), ce_model(S, labels_y, labels))
        # softmax minus one-hot, over N (with the entry's shift)
        want = softmax_model(S, labels)
        want[np.arange(len(labels_y)), labels_y] -= 1
        assert agree(scores.grad.numpy(), want / len(labels_y))


def _check_hinge(entry: hq.Entry, fn: Any, labels: frozenset[str]) -> None:
    W, X, y = linear_inputs(0)
    kink = np.array([[1.0, 0, 2, 1], [3, 3, 2, 0], [0, 1, 1, 2]])  # margins of exactly 0
    for S, labels_y, margin in ((X @ W, y, 1.0), (kink, np.array([0, 2, 3]), 1.0)):
        scores = torch.tensor(S, requires_grad=True)
        loss = fn.apply(scores, torch.tensor(labels_y), margin)
        loss.backward()
        # scores = I @ S: the svm gradient model's dW is then d loss / d scores
        want = svmgrad_model(S, np.eye(len(labels_y)), labels_y, 0.0, margin, labels)
        assert agree(loss.detach().numpy(), want[0])
        assert agree(scores.grad.numpy(), want[1])
