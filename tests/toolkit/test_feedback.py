"""grader.grading.feedback without the sandbox: bug fingerprints (diagnose) and explain()."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from grader import messages
from grader.authoring import pack
from grader.grading import checks, feedback
from grader.grading.checks import StudentFailure
from grader.grading.feedback import Bug
from grader.grading.reference import load_modules, reference
from grader.sandbox.layers import WorkerGone

BUGS = {b.id: b for b in feedback.bugs()}
REF = reference()


def variant(bug: Bug) -> Callable[..., Any]:
    """The bug's function, loaded here from the patched reference."""
    source = (pack.active().solutions / bug.file).read_text(encoding="utf-8")
    modules = load_modules(pack.active().solutions, {bug.file: bug.patch(source)})
    thing = getattr(modules[bug.file[:-3]], bug.function)
    call = feedback._calls().get(bug.function)  # a class: called as the library calls it
    if call is None:
        return thing  # type: ignore[no-any-return]
    return lambda *args, **kwargs: call(thing, *args, **kwargs)


def reference_fn(name: str) -> Callable[..., Any]:
    """The reference's ``name``, called as the library calls a variant's (``CALLS``)."""
    thing = getattr(REF, name)
    call = feedback._calls().get(name)
    if call is None:
        return thing  # type: ignore[no-any-return]
    return lambda *args, **kwargs: call(thing, *args, **kwargs)


def _inputs() -> dict[str, list[tuple[tuple[Any, ...], dict[str, Any]]]]:
    """A few inputs per function, on which the bugs of the library show."""
    rng = np.random.default_rng(7)
    S = rng.normal(size=(5, 4)) * 3
    y = np.array([0, 1, 2, 3, 1])
    big = np.array([[1e4, 0.0, -1e4], [1.0, 2.0, 3.0]])
    far_rows = np.array([[1000.0, 999.0, 998.0], [-1000.0, -1001.0, -1002.0]])
    X, W = rng.normal(size=(6, 3)), rng.normal(size=(3, 4)) * 2
    yc = np.array([0, 1, 2, 3, 0, 1])
    Xr = np.c_[np.ones(5), rng.normal(size=(5, 2))]
    yr = rng.normal(size=5)
    w, dw, v = rng.normal(size=4), rng.normal(size=4), rng.normal(size=4)
    m2, v2 = rng.normal(size=4) * 0.1, rng.random(4) * 0.01
    A = rng.normal(size=(2, 3))

    def f_nonlinear(x: np.ndarray) -> float:
        return float(np.sum(np.sin(x) * x**2))

    def grad_nonlinear(x: np.ndarray) -> np.ndarray:
        return np.cos(x) * x**2 + 2 * x * np.sin(x)

    def quad_grad(x: np.ndarray) -> np.ndarray:
        return 2 * (x - np.array([1.0, 3.0]))

    def loss_and_grad(Wt: np.ndarray, Xb: np.ndarray, yb: np.ndarray) -> tuple[float, Any]:
        return REF.softmax_loss_and_grad(Wt, Xb, yb, 0.1)

    def fit_mean(Xt: np.ndarray, yt: np.ndarray) -> float:
        return float(np.mean(yt))

    def mse(model: float, Xv: np.ndarray, yv: np.ndarray) -> float:
        return float(np.mean((yv - model) ** 2))

    Xm, ym = rng.normal(size=(12, 3)), rng.integers(0, 4, size=12)
    Xcv, ycv = rng.normal(size=(7, 2)), np.arange(7.0) ** 2
    kink_W = np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 2.0]])
    kink_X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0]])
    return {
        "softmax": [((S,), {}), ((big,), {}), ((far_rows,), {}), ((S[:4],), {})],
        "cross_entropy_loss": [
            ((S, y), {}),
            ((big, np.array([2, 0])), {}),
            ((np.array([[800.0, 0.0, 1.0]]), np.array([0])), {}),
        ],
        "svm_loss": [((S, y), {}), ((S, y), {"margin": 2.5})],
        "squared_svm_loss": [((S, y), {}), ((S, y), {"margin": 2.5})],
        "l2_penalty": [((W,), {})],
        "l1_penalty": [((W,), {}), ((-W,), {})],
        "elastic_net_penalty": [((W, 0.3), {})],
        "ridge_fit": [((Xr, yr, 0.7), {})],
        "softmax_loss_and_grad": [((W, X, yc, 0.2), {}), ((W * 2000, X, yc, 0.0), {})],
        "svm_loss_and_grad": [
            ((W, X, yc, 0.2), {}),
            ((W, X, yc, 0.2), {"margin": 3.0}),
            # Integer scores with two terms exactly at their kink (issue 16).
            ((kink_W, kink_X, np.array([0, 2, 1, 0]), 0.0), {}),
        ],
        "numeric_gradient": [((f_nonlinear, A.copy()), {"h": 1e-3})],
        "relative_error": [
            ((np.array([1.0, 0.0, -2.0, 3.0]), np.array([1.1, 0.0, 2.0, 3.0])), {}),
            ((np.array([1.0] * 9 + [2.0]), np.array([1.0] * 9 + [1.0])), {}),
            ((np.array([1.0, 2.0]), np.array([1.5, 2.0])), {}),
        ],
        "gradient_check": [((f_nonlinear, grad_nonlinear, A.copy()), {"h": 0.1, "tol": 1e-6})],
        "sgd_step": [((w, dw, 0.1), {})],
        "sgd_momentum_step": [((w, dw, v, 0.1), {"rho": 0.9})],
        "adam_step": [
            ((w, dw, m2, v2, 3), {"lr": 0.01}),
            ((w, dw * 1e-5, m2 * 0, v2 * 0, 1), {"lr": 0.01}),
        ],
        "gradient_descent": [((quad_grad, np.zeros(2), 0.1, 5), {})],
        "minibatch_sgd": [
            (
                (loss_and_grad, W, Xm, ym, 0.1, 4, 5),
                {"seed": 1, "rho": 0.5, "lr_schedule": lambda t: 0.1 / (t + 1)},
            )
        ],
        "step_decay": [((1.0, t, 3), {"gamma": 0.5}) for t in (1, 2, 4)],
        "cosine_decay": [((1.0, 3, 10, 0.1), {}), ((1.0, 15, 10, 0.1), {})],
        "cross_validate": [((fit_mean, mse, Xcv, ycv, 3), {})],
        "choose_ridge_lambda": [((Xr, yr, [0.01, 1.0, 100.0]), {"k": 3})],
        "SoftmaxCrossEntropy": [((S, y), {}), ((big, np.array([2, 0])), {})],
        "MulticlassHinge": [
            ((np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 2.0]]), np.array([0, 2])), {}),
            ((np.array([[2.0, 0.0, 1.0, -1.0]]), np.array([0])), {"margin": 2.0}),
        ],
    }


INPUTS = _inputs()
FINGERPRINTED = [b for b in BUGS.values() if b.fingerprint]


def _asking(fn: Callable[..., Any]) -> Callable[[tuple[Any, ...], Any], Any]:
    """``diagnose``'s ``ask``: the student's function is ``fn`` (a bug's variant, say)."""

    def ask(args: tuple[Any, ...], kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return ask


def _copies(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict]:
    return feedback._copies(args), feedback._copies(kwargs)


def test_inputs_cover_every_fingerprinted_function() -> None:
    assert {b.function for b in FINGERPRINTED} <= set(INPUTS)


@pytest.mark.parametrize("bug", FINGERPRINTED, ids=lambda b: b.id)
def test_each_fingerprint_names_its_own_bug(bug: Bug) -> None:
    """On some input the variant differs from the reference and diagnose returns its hint."""
    fn, ref = variant(bug), reference_fn(bug.function)
    seen = []
    for args, kwargs in INPUTS[bug.function]:
        with np.errstate(all="ignore"):
            try:
                got = fn(*_copies(args, kwargs)[0], **_copies(args, kwargs)[1])
            except Exception as exc:  # a variant may crash on some inputs
                seen.append(f"crash {type(exc).__name__}")
                continue
            expected = ref(*_copies(args, kwargs)[0], **_copies(args, kwargs)[1])
        if checks.same_values(got, expected):
            seen.append("same as the reference")
            continue
        hint = feedback.diagnose(bug.function, args, kwargs, got, ask=_asking(fn))
        if hint == bug.hint:
            return
        seen.append(f"diagnosed as {hint!r}")
    pytest.fail(f"{bug.id}: never diagnosed as itself: {seen}")


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_a_hint_names_a_variant_that_gives_this_answer(name: str) -> None:
    """Diagnose is only asked about wrong answers; asked about the reference's, it may only name
    a bug that happens to agree with the reference on that input (and mostly names none)."""
    for args, kwargs in INPUTS[name]:
        got = reference_fn(name)(*_copies(args, kwargs)[0], **_copies(args, kwargs)[1])
        hint = feedback.diagnose(name, args, kwargs, got)
        if hint is None:
            continue
        named = next(b for b in FINGERPRINTED if b.function == name and b.hint == hint)
        with np.errstate(all="ignore"):
            theirs = variant(named)(*_copies(args, kwargs)[0], **_copies(args, kwargs)[1])
        assert checks.same_values(theirs, got)


@pytest.mark.parametrize("bug", FINGERPRINTED, ids=lambda b: b.id)
def test_a_bug_named_agrees_with_the_answer_on_every_probe(bug: Bug) -> None:
    """A student whose function is the bug's variant is told of that bug or of one that gives
    the same answers on the input and on every probe, never of one that differs anywhere."""
    fn = variant(bug)
    tried = feedback.probes(bug.function)
    for args, kwargs in INPUTS[bug.function]:
        with np.errstate(all="ignore"):
            try:
                got = fn(*_copies(args, kwargs)[0], **_copies(args, kwargs)[1])
            except Exception:
                continue
        hint = feedback.diagnose(bug.function, args, kwargs, got, ask=_asking(fn))
        if hint is None or hint == bug.hint:
            continue
        for named in (b for b in FINGERPRINTED if b.function == bug.function and b.hint == hint):
            other = variant(named)
            for probe in tried:
                mine = _asking(fn)(*_copies(probe.args, dict(probe.kwargs)))
                theirs = _asking(other)(*_copies(probe.args, dict(probe.kwargs)))
                assert checks.same_values(theirs, mine), (bug.id, named.id, probe.about)


def test_a_row_shifted_log_of_probability_is_never_told_to_shift() -> None:
    """Issue 26's headline: the loss is inf like the no-shift bug's, yet that is no match."""
    W = np.array([[2000.0, -1000.0, 0.0], [0.0, 1500.0, -2500.0]])
    X = np.array([[4.0, 1.0], [-1.0, 3.0], [0.5, -4.0]])
    y = np.array([2, 0, 1])
    for fn_name, args, bug_id, shift_ids in (
        (
            "softmax_loss_and_grad",
            (W, X, y, 0.0),
            "smgrad-log-of-probability",
            ("smgrad-no-shift",),
        ),
        (
            "cross_entropy_loss",
            (X @ W, y),
            "ce-log-of-probability",
            ("ce-no-shift", "ce-global-max"),
        ),
    ):
        student = variant(BUGS[bug_id])
        with np.errstate(all="ignore"):
            got = student(*_copies(args, {})[0])
        first = got[0] if isinstance(got, tuple) else got
        assert np.isinf(first)  # as inf as the no-shift bug's answer
        for shift in shift_ids:
            with np.errstate(all="ignore"):
                theirs = variant(BUGS[shift])(*_copies(args, {})[0])
            part = 0 if isinstance(got, tuple) else None
            assert feedback.agree(theirs, got, part) or not np.all(
                np.isfinite(theirs[0] if part == 0 else theirs)
            )
        # no probes to ask: an agreement on inf alone names nothing
        assert feedback.diagnose(fn_name, args, {}, got) is None
        assert feedback.diagnose(fn_name, args, {}, got, part=0 if part == 0 else None) is None
        # with the probes: the right bug, and the shift hint never
        hint = feedback.diagnose(fn_name, args, {}, got, ask=_asking(student))
        assert hint == BUGS[bug_id].hint
        assert all(hint != BUGS[s].hint for s in shift_ids)


def test_a_member_alone_never_names_a_bug_whose_other_member_differs() -> None:
    """Rows shifted then log(p), 0.5 * reg in the loss only, dW right: the loss is inf on public
    test_softmax_loss_and_grad_large_scores' input, where the log-of-p-and-half-reg bug agrees
    on the loss alone; its hint says dW's penalty is reg * W, which is false of this dW."""
    student = variant(
        Bug(
            "",
            "softmax_loss_and_grad",
            BUGS["smgrad-log-of-probability"].file,
            BUGS["smgrad-log-of-probability"].old,
            BUGS["smgrad-log-of-probability"].new,
            "",
            also=BUGS["smgrad-loss-half-reg"].edits,
        )
    )
    W = np.array([[2500.0, -1000.0, 0.0], [0.0, 1500.0, -2500.0]])
    X = np.array([[4.0, 0.0], [-1.0, 3.0], [0.5, -4.0]])
    args = (W, X, np.array([2, 0, 1]), 0.0)
    with np.errstate(all="ignore"):
        got = student(*_copies(args, {})[0])
    assert np.isinf(got[0])
    hint = feedback.diagnose("softmax_loss_and_grad", args, {}, got, ask=_asking(student), part=0)
    assert hint != BUGS["smgrad-log-of-probability-half-reg"].hint
    assert hint is None or "reg * W" not in hint


def test_telling_needs_a_finite_number_in_every_member() -> None:
    assert not checks.telling([float("inf")])
    assert not checks.telling([(float("inf"), np.full((2, 2), np.nan))])
    assert not checks.telling([(float("inf"), np.ones((2, 2)))])  # the loss: inf only
    assert checks.telling([(float("inf"), np.ones((2, 2))), (2.0, np.ones((2, 2)))])
    assert checks.telling([np.array([np.nan, 1.0])])  # where the nan is says something
    assert checks.telling([(float("inf"), np.ones(2))], part=1)
    assert not checks.telling([(float("inf"), np.ones(2))], part=0)


def test_a_bug_of_several_lines_patches_each_of_them() -> None:
    bug = Bug("x", "f", "m.py", "a = 1", "a = 2", "hint", also=(("b = 1", "b = 3"),))
    assert bug.patch("a = 1\nb = 1\nc = 1\n") == "a = 2\nb = 3\nc = 1\n"
    with pytest.raises(ValueError, match="on 0 lines"):
        bug.patch("a = 1\nc = 1\n")


def test_reference_answer_on_a_telling_input_gets_no_hint() -> None:
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    y = np.array([0, 1, 2])
    for name in ("svm_loss", "squared_svm_loss"):
        got = getattr(REF, name)(scores, y, **({"margin": 2.5} if "svm" in name else {}))
        kwargs = {"margin": 2.5} if "svm" in name else {}
        assert feedback.diagnose(name, (scores, y), kwargs, got) is None


def test_svm_including_the_correct_class_is_diagnosed() -> None:
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    y = np.array([0, 1, 2])
    got = REF.svm_loss(scores, y) + 1.0  # what summing over every class gives
    hint = feedback.diagnose("svm_loss", (scores, y), {}, got)
    assert hint == BUGS["svm-includes-correct-class"].hint
    assert "margin" in hint and "j = y_i" in hint


def test_unknown_answers_and_functions_get_no_hint() -> None:
    scores, y = np.array([[1.0, 2.0], [0.5, -1.0]]), np.array([0, 1])
    assert feedback.diagnose("svm_loss", (scores, y), {}, 123.456) is None
    assert feedback.diagnose("no_such_function", (scores, y), {}, 1.0) is None
    assert feedback.diagnose("svm_loss", (scores, y), {}, "not a number") is None


def test_crashing_variants_are_skipped() -> None:
    # softmax-no-keepdims cannot broadcast a (2,) sum against (2, 3) scores: it raises, and
    # diagnose moves on instead of failing the grading.
    scores = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    assert feedback.diagnose("softmax", (scores,), {}, np.zeros((2, 3))) is None


def test_non_fingerprinted_bugs_are_never_named() -> None:
    bug = BUGS["gd-in-place"]
    assert not bug.fingerprint
    x = np.zeros(2)
    got = variant(bug)(lambda w: 2 * (w - 1), x.copy(), 0.1, 3)
    assert feedback.diagnose("gradient_descent", (lambda w: 2 * (w - 1), x, 0.1, 3), {}, got) != (
        bug.hint
    )


def test_diagnose_leaves_the_arguments_alone() -> None:
    scores = np.array([[1e4, 0.0], [0.0, 1.0]])
    before = scores.copy()
    feedback.diagnose("softmax", (scores,), {}, np.full((2, 2), np.nan))
    np.testing.assert_array_equal(scores, before)


# -- explain ----------------------------------------------------------------------------------


def _excinfo(exc: BaseException) -> pytest.ExceptionInfo[BaseException]:
    try:
        raise exc
    except BaseException:
        return pytest.ExceptionInfo.from_current()


def test_explain_student_failure_with_hint() -> None:
    hint = BUGS["svm-includes-correct-class"].hint
    fail = StudentFailure(
        "`svm_loss` returned the wrong value\n" + messages.HINT.format(hint=hint),
        category="wrong result",
        hint=hint,
        detail="more detail",
    )
    fb = feedback.explain(_excinfo(fail), ("svm_loss",))
    assert fb.public.startswith("`svm_loss` returned the wrong value")
    assert hint in fb.public and "more detail" not in fb.public
    assert "`svm_loss`" in fb.hidden and "wrong result" in fb.hidden and hint in fb.hidden
    assert "input" not in fb.hidden.split("hint:")[0].replace("The input is not shown", "")
    assert fb.staff["fingerprint"] == hint
    assert "StudentFailure" in fb.staff["traceback"]
    assert "more detail" in feedback.explain(_excinfo(fail), ("svm_loss",), verbose=True).public


def test_explain_student_failure_without_hint_has_no_fingerprint() -> None:
    fail = StudentFailure("`softmax` returned nan", category="not finite (numerical stability)")
    fb = feedback.explain(_excinfo(fail), ("softmax",))
    assert fb.public == "`softmax` returned nan"
    assert "not finite (numerical stability)" in fb.hidden
    assert "hint" not in fb.hidden and "fingerprint" not in fb.staff


def test_explain_worker_gone() -> None:
    fb = feedback.explain(_excinfo(WorkerGone("timed out after 5 s")), ("numeric_gradient",))
    assert fb.public == "`numeric_gradient`: timed out after 5 s"
    assert fb.hidden == "`numeric_gradient`: timed out after 5 s"
    assert "fingerprint" not in fb.staff and fb.staff["message"] == fb.public


def test_explain_plain_assertion() -> None:
    fb = feedback.explain(_excinfo(AssertionError("folds overlap")), ("k_fold_indices",))
    assert fb.public == "folds overlap"
    assert "(wrong result)" in fb.hidden and "folds overlap" not in fb.hidden
    empty = feedback.explain(_excinfo(AssertionError()), ("k_fold_indices",))
    assert empty.public == "a check of `k_fold_indices` failed"


def test_explain_error_in_the_suite_is_flagged_for_staff() -> None:
    fb = feedback.explain(_excinfo(KeyError("oops")), ("grid_search",))
    assert "could not check `grid_search`" in fb.public and "KeyError" in fb.public
    assert fb.staff["suspect_grader"] is True
    assert "unexpected result" in fb.hidden
