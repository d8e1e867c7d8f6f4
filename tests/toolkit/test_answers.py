"""Recorded reference answers (grader.grading.answers): keys, callback trees, misses, the file,
Hypothesis.

In-process, with the real reference and no sandbox: a ``Recorder`` of the reference takes the
calls a test would make, and a ``Replay`` of what it recorded must answer them alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from hypothesis.extra.numpy import arrays

from grader import messages
from grader.grading import answers, feedback, plugin
from grader.grading.answers import Answers, NotRecorded, Recorder, Replay, UseOwn, call_key, digest
from grader.grading.checks import StudentFailure
from grader.grading.reference import reference
from grader.sandbox import protocol

REF = reference()

#: The grading profile's settings (grader.grading.plugin), without loading it for the whole session.
GRADING = settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=40,
    print_blob=False,
    report_multiple_bugs=False,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)


def replay_of(recorder: Recorder) -> Replay:
    """A replay of what ``recorder`` recorded, through the file format."""
    return Replay(Answers.from_bytes(recorder.finish(feedback.fingerprints).to_bytes()))


class Counting:
    """A callable that records its calls and answers with ``fn``."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn, self.calls = fn, []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((tuple(np.array(a, copy=True) for a in args), dict(kwargs)))
        return self.fn(*args, **kwargs)


def quadratic_gradient(w: Any) -> Any:
    return 2 * np.asarray(w, dtype=float)


# -- keys ------------------------------------------------------------------------------------------


def test_digest_counts_values_not_spellings() -> None:
    x = np.arange(6.0).reshape(2, 3)
    assert digest(np.float64(2.0)) == digest(2.0)
    assert digest(np.int64(3)) == digest(3)
    assert digest(2) != digest(2.0)
    assert digest(True) != digest(1)
    assert digest(x) == digest(x.copy()) == digest(np.asfortranarray(x))
    assert digest(x) == digest(x.astype(">f8"))  # byte order is not a value
    assert digest(x) != digest(x.astype(np.float32))
    assert digest(x) != digest(x.reshape(3, 2))
    assert digest(np.float32(1.5)) != digest(1.5)
    assert digest(float("nan")) == digest(-float("nan"))
    assert digest(np.array([np.nan, 1.0])) == digest(np.array([-np.nan, 1.0]))
    assert digest((1, 2)) != digest([1, 2])
    assert digest({"a": 1, "b": 2}) != digest({"b": 2, "a": 1})  # a grid's order matters
    for bad in (object(), {1.5: 2}, np.array([object()]), [len]):
        with pytest.raises(answers.Unkeyable):
            digest(bad)


def test_a_call_is_keyed_by_its_bound_arguments() -> None:
    import inspect

    sig = inspect.signature(REF.numeric_gradient)
    x = np.array([1.0, 2.0])
    key = call_key("numeric_gradient", sig, (quadratic_gradient, x), {})[0]
    assert call_key("numeric_gradient", sig, (quadratic_gradient, x, 1e-5), {})[0] == key
    assert call_key("numeric_gradient", sig, (), {"x": x, "f": len, "h": 1e-5})[0] == key
    assert call_key("numeric_gradient", sig, (quadratic_gradient, x, 1e-4), {})[0] != key
    assert call_key("relative_error", sig, (quadratic_gradient, x), {})[0] != key
    with pytest.raises(answers.Unkeyable):
        call_key("numeric_gradient", sig, (quadratic_gradient,), {"y": 1})


# -- record, replay, miss ----------------------------------------------------------------------


def test_replay_answers_what_was_recorded_and_nothing_else() -> None:
    rec = Recorder(REF)
    scores, y = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0]]), np.array([0, 1])
    expected = rec.svm_loss(scores, y)
    assert expected == REF.svm_loss(scores, y)
    replay = replay_of(rec)
    got = replay.svm_loss(scores.copy(), y, margin=1.0)  # the default spelled out: one call
    assert got == expected
    assert replay.used == set(replay.answers.table)
    with pytest.raises(NotRecorded) as info:
        replay.svm_loss(scores + 1e-9, y)
    assert info.value.message == messages.NEEDS_REFERENCE.format(name="svm_loss")
    assert info.value.category == "needs the reference solution"
    assert replay.misses == 1
    with pytest.raises(UseOwn) as own:  # the same miss in a stand-in: the student's own runs
        replay.functions()["svm_loss"](scores + 1e-9, y)
    assert str(own.value) == protocol.USE_OWN
    assert replay.own_calls == 1


def test_arrays_come_back_as_fresh_copies() -> None:
    rec = Recorder(REF)
    x = np.array([[1.0, 2.0, 0.5]])
    rec.softmax(x)
    replay = replay_of(rec)
    first = replay.softmax(x)
    first[0, 0] = 99.0
    assert np.allclose(replay.softmax(x), REF.softmax(x))


def test_callables_are_called_back_as_the_reference_did() -> None:
    rec = Recorder(REF)
    w0 = np.array([1.0, -2.0])
    recorded = Counting(quadratic_gradient)
    expected = rec.gradient_descent(recorded, w0, 0.1, 4)
    calls = list(recorded.calls)  # (finish calls it again, for the known bugs' answers)
    replay = replay_of(rec)

    same = Counting(quadratic_gradient)
    got = replay.gradient_descent(same, w0, 0.1, 4)
    assert np.array_equal(got, expected)
    assert len(same.calls) == len(calls) == 4  # the caller's counts agree
    for (a, _), (b, _) in zip(same.calls, calls, strict=True):
        assert np.array_equal(a[0], b[0])

    other = Counting(lambda w: 3 * np.asarray(w, dtype=float))  # answers differ: not recorded
    with pytest.raises(NotRecorded):
        replay.gradient_descent(other, w0, 0.1, 4)
    assert len(other.calls) == 1  # it stopped at the first answer the reference never saw
    with pytest.raises(UseOwn):
        replay.functions()["gradient_descent"](other, w0, 0.1, 4)


def test_a_callback_tree_branches_on_the_answers() -> None:
    grid = {"lr": [0.1, 0.01, 0.001], "reg": [0.0, 1.0]}

    def table(shift: float) -> Callable[..., float]:
        return lambda lr, reg: (float(np.log10(lr)) + shift) ** 2 + reg

    rec = Recorder(REF)
    expected = {s: rec.grid_search(table(s), grid) for s in (1.0, 2.0, 3.0)}
    replay = replay_of(rec)
    assert len(replay.answers.table) == 1  # one call, three branches
    for s in (3.0, 1.0, 2.0):
        assert replay.grid_search(table(s), grid) == expected[s]
    with pytest.raises(NotRecorded):
        replay.grid_search(table(2.5), grid)


def test_an_exception_of_a_callable_replays_as_itself() -> None:
    def broken(w: Any) -> Any:
        raise ValueError("no gradient here")

    rec = Recorder(REF)
    with pytest.raises(ValueError):
        rec.gradient_descent(broken, np.zeros(2), 0.1, 3)
    replay = replay_of(rec)
    with pytest.raises(ValueError, match="no gradient here"):
        replay.gradient_descent(broken, np.zeros(2), 0.1, 3)


def test_torch_classes_are_not_recorded() -> None:
    rec = Recorder(REF)
    with pytest.raises(answers.AnswersError, match="cannot be recorded"):
        _ = rec.SoftmaxCrossEntropy
    assert rec.problems
    replay = replay_of(Recorder(REF))
    with pytest.raises(NotRecorded):
        _ = replay.MulticlassHinge
    with pytest.raises(AttributeError):
        _ = replay.svm_los


def test_every_function_has_its_signature_even_unrecorded() -> None:
    import inspect

    replay = replay_of(Recorder(REF))

    def plain(fn: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    for name, fn in REF.functions().items():
        assert plain(getattr(replay, name)) == plain(fn), name


# -- the file ------------------------------------------------------------------------------------


def test_the_file_is_a_protocol_frame_and_strictly_read() -> None:
    rec = Recorder(REF)
    rec.k_fold_indices(10, 3)
    data = rec.finish(feedback.fingerprints).to_bytes()
    header, _ = protocol.parse_frame(data)
    assert header["format"] == answers.FORMAT
    assert b"pickle" not in data and b"\x80\x04\x95" not in data
    folds = Replay(Answers.from_bytes(data)).k_fold_indices(10, 3)
    assert [v.tolist() for _, v in folds] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]

    for bad in (
        b"",
        data[:-1],
        protocol.encode({"format": "other", "version": 1}, {}),
        protocol.encode(
            {"format": answers.FORMAT, "version": answers.VERSION},
            {"signatures": {}, "table": {"k": 5}, "nodes": [], "hints": {}},
        ),
    ):
        with pytest.raises(answers.AnswersError):
            Answers.from_bytes(bad)
    # A callable in the file is refused by the decoder: nothing in it can run.
    with_fn = protocol.encode(
        {"format": answers.FORMAT, "version": answers.VERSION},
        {"signatures": {}, "table": {}, "nodes": [{"result": len}], "hints": {}},
        register_fn=lambda fn: 1,
    )
    with pytest.raises(answers.AnswersError):
        Answers.from_bytes(with_fn)


def test_same_calls_same_bytes() -> None:
    def record() -> bytes:
        rec = Recorder(REF)
        rec.ridge_fit(np.eye(3), np.arange(3.0), 0.5)
        rec.gradient_descent(quadratic_gradient, np.ones(2), 0.1, 2)
        return rec.finish(feedback.fingerprints).to_bytes()

    assert record() == record()


# -- hints ---------------------------------------------------------------------------------------


def test_the_known_bugs_hints_are_recorded_for_the_tests_inputs() -> None:
    scores, y = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0]]), np.array([0, 1])
    bug = next(b for b in feedback.bugs() if b.id == "svm-includes-correct-class")
    buggy = feedback._variant(bug.id).svm_loss(scores, y)
    rec = Recorder(REF)
    rec.saw("svm_loss", (scores, y), {})  # what a test gave the student
    replay = replay_of(rec)
    assert replay.hint("svm_loss", (scores, y), {"margin": 1.0}, buggy) == bug.hint
    assert replay.hint("svm_loss", (scores, y), {}, buggy + 1.0) is None
    assert replay.hint("svm_loss", (scores + 1.0, y), {}, buggy) is None  # not recorded
    assert feedback.diagnose("svm_loss", (scores, y), {}, buggy) == bug.hint  # live, the same


def test_a_recorded_hint_needs_an_agreement_on_finite_numbers() -> None:
    """The bundle has no probes: an answer of inf, which several bugs give here, names none."""
    scores, y = np.array([[1e4, 0.0, -1e4], [0.0, 1.0, 2.0]]), np.array([2, 1])
    bug = next(b for b in feedback.bugs() if b.id == "ce-log-of-probability")
    with np.errstate(all="ignore"):
        inf = feedback._variant(bug.id).cross_entropy_loss(scores, y)
    assert np.isinf(inf)
    rec = Recorder(REF)
    rec.saw("cross_entropy_loss", (scores, y), {})
    replay = replay_of(rec)
    recorded = next(iter(replay.answers.hints.values()))
    assert any(h == bug.hint for h, _ in recorded)  # recorded, yet not told on inf alone
    assert replay.hint("cross_entropy_loss", (scores, y), {}, inf) is None
    assert feedback.diagnose("cross_entropy_loss", (scores, y), {}, inf) is None  # live, no ask


# -- Hypothesis ----------------------------------------------------------------------------------


def l2_property(
    ref: Any, student: Callable[[np.ndarray], float], seen: list[bytes]
) -> Callable[[], None]:
    """A public-test-like property: the student's l2_penalty against the reference's."""

    @GRADING
    @given(arrays(np.float64, (2, 3), elements=st.floats(-10, 10, allow_subnormal=False)))
    def test(W: np.ndarray) -> None:
        seen.append(W.tobytes())
        got = student(W.copy())
        expected = ref.l2_penalty(W.copy())
        if not np.isclose(got, expected):
            raise StudentFailure(f"wrong l2_penalty for W = {W.tolist()}")

    return test


def correct_l2(W: np.ndarray) -> float:
    return float(np.sum(W**2))


def wrong_for_large_entries(W: np.ndarray) -> float:
    return float(np.sum(W**2) + (np.max(np.abs(W)) > 3))


def test_hypothesis_examples_replay_in_the_same_order() -> None:
    rec = Recorder(REF)
    recorded: list[bytes] = []
    l2_property(rec, correct_l2, recorded)()
    replay = replay_of(rec)
    replayed: list[bytes] = []
    l2_property(replay, correct_l2, replayed)()
    assert len(recorded) > 10
    assert replayed == recorded
    assert replay.misses == 0


def test_shrinking_a_students_failure_skips_inputs_nobody_recorded() -> None:
    rec = Recorder(REF)
    recorded: list[bytes] = []
    l2_property(rec, correct_l2, recorded)()
    replay = replay_of(rec)
    seen: list[bytes] = []
    with pytest.raises(StudentFailure) as info:
        l2_property(replay, wrong_for_large_entries, seen)()
    assert not isinstance(info.value, NotRecorded)  # the student's failure, not the recording's
    assert "wrong l2_penalty" in info.value.message
    first_failure = next(
        i
        for i, w in enumerate(seen)
        if wrong_for_large_entries(np.frombuffer(w).reshape(2, 3))
        != correct_l2(np.frombuffer(w).reshape(2, 3))
    )
    assert seen[: first_failure + 1] == recorded[: first_failure + 1]  # generated alike
    assert set(seen) - set(recorded)  # shrinking did try inputs nobody recorded ...
    assert replay.misses > 0  # ... and they were rejected, not failures
    shown = np.array(json.loads(info.value.message.split("W = ")[1]))  # the reported example
    assert shown.tobytes() in set(recorded)


def test_a_property_that_only_misses_says_it_needs_the_reference() -> None:
    replay = replay_of(Recorder(REF))
    answers.begin_test()

    @GRADING
    @given(st.floats(0.1, 10))
    def test(lam: float) -> None:
        replay.ridge_fit(np.eye(2), np.ones(2), lam)

    with pytest.raises(Unsatisfiable) as info:
        test()
    assert answers.missed()
    shown = plugin.needs_reference(info, "ridge_fit")
    assert isinstance(shown.value, NotRecorded)
    assert "it runs when you submit" in shown.value.message
    with pytest.raises(StudentFailure) as student_failure:
        raise StudentFailure("wrong")
    assert plugin.needs_reference(student_failure, "ridge_fit") is student_failure
    answers.begin_test()
    assert not answers.missed()
    assert plugin.needs_reference(info, "ridge_fit") is info


# -- the worker's fallback -----------------------------------------------------------------------


def test_the_worker_runs_the_students_own_function_on_use_own() -> None:
    from grader.sandbox import serve as worker

    def own(x: int) -> str:
        return f"own {x}"

    def refusing(x: int) -> str:
        raise worker.CallbackFailed(protocol.USE_OWN)

    def failing(x: int) -> str:
        raise worker.CallbackFailed("the reference raised")

    assert worker._or_own(lambda x: f"reference {x}", own)(1) == "reference 1"
    assert worker._or_own(refusing, own)(2) == "own 2"
    with pytest.raises(worker.CallbackFailed, match="the reference raised"):
        worker._or_own(failing, own)(3)
    assert worker._or_own(refusing, None) is refusing
