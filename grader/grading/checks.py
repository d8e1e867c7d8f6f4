"""Comparisons for grading tests, each failing with a message a teacher would write.

A failed check raises ``StudentFailure`` (an ``AssertionError``) carrying

* ``message``: the detailed, student-facing text (input, expected, got, first difference, hint);
* ``category``: a short phrase for hidden tests, which must not reveal their inputs;
* ``staff``: anything only instructors should see (tracebacks, bug fingerprints).

Tolerances follow research/assignments.md section 2: float64 ``rtol=1e-6, atol=1e-8``; a float32
answer is compared at ``rtol=1e-4`` (values) or ``1e-3`` (a gradient), as the spec promises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from grader import messages
from grader.grading import differences

RTOL, ATOL = 1e-6, 1e-8
RTOL32 = {"value": 1e-4, "grad": 1e-3}
ATOL32 = {"value": 1e-5, "grad": 1e-4}

#: ``(function name, args, kwargs, got, ask=None, part=None) -> hint or None``: the known bug
#: that explains ``got`` (``grader.grading.feedback.diagnose``; ``ask(args, kwargs)`` puts another
#: input to the student's function, ``part`` compares one member of a tuple result).
Diagnose = Callable[..., "str | None"]
#: ``ask(args, kwargs)``: the student's answer to another input of the function under test.
Ask = Callable[[tuple[Any, ...], Mapping[str, Any]], Any]


def _no_hint(*_: Any, **__: Any) -> None:
    return None


#: The diagnosis the checks use; the plugin installs ``grader.grading.feedback``'s for a grading
#: (the known-bug library sits above these checks: they never import it).
_diagnosis: dict[str, Any] = {"whole": _no_hint}


def use_diagnosis(whole: Diagnose) -> None:
    """Give the checks the known-bug diagnosis (``grader.grading.feedback.diagnose``)."""
    _diagnosis["whole"] = whole


class StudentFailure(AssertionError):
    """A check the student's code did not pass."""

    def __init__(
        self,
        message: str,
        *,
        category: str = "wrong result",
        staff: str = "",
        detail: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.category = category
        self.staff = staff
        self.detail = detail  # shown with --verbose and to staff
        self.hint = hint
        self.difference = ""  # the "what differs" line in ``message``, while no hint explains it


# -- normalizing what came back -----------------------------------------------------------------


def as_scalar(name: str, got: Any) -> float:
    """A loss: a Python float, a numpy scalar, a 0-d array or 1-element torch tensor."""
    if isinstance(got, bool) or got is None:
        raise StudentFailure(
            messages.WRONG_TYPE.format(name=name, expected="a number", got=_kind(got)),
            category="wrong type",
        )
    if isinstance(got, (int, float, np.generic)):
        value = float(got)
    elif isinstance(got, np.ndarray) and got.size == 1 and got.dtype.kind in "biuf":
        value = float(got.reshape(()))
    else:
        raise StudentFailure(
            messages.WRONG_TYPE.format(name=name, expected="a number (a scalar)", got=_kind(got)),
            category="wrong type",
        )
    return value


def as_array(name: str, got: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """An array result: lists and tuples of numbers are accepted, objects are not."""
    try:
        arr = np.asarray(got)
    except (ValueError, TypeError):
        arr = np.asarray(None)
    if arr.dtype.kind not in "biufc" or arr.dtype.kind == "c":
        raise StudentFailure(
            messages.WRONG_TYPE.format(name=name, expected="a numeric array", got=_kind(got)),
            category="wrong type",
        )
    if shape is not None and arr.shape != tuple(shape):
        raise StudentFailure(
            messages.WRONG_SHAPE.format(name=name, got=arr.shape, expected=tuple(shape)),
            category="wrong shape",
        )
    return arr


def _kind(got: Any) -> str:
    if isinstance(got, np.ndarray):
        return f"an array of shape {got.shape} and dtype {got.dtype}"
    if isinstance(got, (tuple, list)):
        return f"a {type(got).__name__} of length {len(got)}"
    return f"a value of type {type(got).__name__}"


# -- comparing ------------------------------------------------------------------------------------


def tolerances(got: np.ndarray, kind: str = "value") -> tuple[float, float]:
    if got.dtype in (np.float32, np.float16):
        return RTOL32[kind], ATOL32[kind]
    return RTOL, ATOL


def expect_close(
    name: str,
    got: Any,
    expected: Any,
    *,
    inputs: Mapping[str, Any],
    kind: str = "value",
    rtol: float | None = None,
    atol: float | None = None,
    diagnose: Diagnose | None = None,
    call: tuple[tuple[Any, ...], Mapping[str, Any]] | None = None,
    what: str = "",
    ask: Ask | None = None,
) -> None:
    """Fail unless ``got`` matches ``expected`` (a number or an array) within tolerance.

    A failure names the known bug that explains ``got`` (``diagnose``, on the input ``call``,
    with ``ask`` for its probes), and says how ``got`` differs where that is simply true
    (``grader.grading.differences``)."""
    exp = np.asarray(expected, dtype=np.float64)
    if exp.ndim == 0:
        g = np.asarray(as_scalar(name, got))
        got_dtype = np.asarray(got).dtype if not isinstance(got, float) else np.dtype(np.float64)
    else:
        g = as_array(name, got, exp.shape)
        got_dtype = g.dtype
    g64 = g.astype(np.float64)
    r, a = tolerances(np.empty(0, got_dtype), kind)
    r, a = (rtol if rtol is not None else r), (atol if atol is not None else a)
    if np.all(np.isfinite(exp)) and not np.all(np.isfinite(g64)):
        shown = not_finite(g64) + (f" ({what})" if what else "")
        fail = StudentFailure(
            messages.NOT_FINITE.format(name=name, what=shown) + _inputs_line(inputs),
            category=messages.NOT_FINITE_CATEGORY.format(what=not_finite(g64, brief=True)),
        )
        _attach_hint(fail, name, call, got, diagnose, ask)
        _note_difference(fail, what, g64, exp, inputs)
        raise fail
    close = np.isclose(g64, exp, rtol=r, atol=a, equal_nan=True)
    if bool(np.all(close)):
        return
    detail = ""
    if exp.ndim > 0:
        idx = tuple(int(i) for i in np.argwhere(~close)[0])
        detail = messages.FIRST_DIFF.format(
            index=idx if len(idx) > 1 else idx[0],
            expected=_num(exp[idx]),
            got=_num(g64[idx]),
            count=int(np.sum(~close)),
            size=close.size,
        )
    fail = StudentFailure(
        messages.MISMATCH.format(
            name=name,
            where=f" ({what})" if what else "",
            inputs=summarize_inputs(inputs),
            expected=summarize(exp),
            got=summarize(g64),
            detail=detail,
        ).rstrip()
    )
    _attach_hint(fail, name, call, got, diagnose, ask)
    _note_difference(fail, what, g64, exp, inputs)
    raise fail


def not_finite(got: Any, brief: bool = False) -> str:
    """What the student returned, in words: ``-inf``, or which entries of an array are not finite.

    ``brief`` leaves out where (hidden tests show no more than the kinds of value).
    """
    arr = np.asarray(got, dtype=np.float64)
    kinds = {
        "nan": np.isnan(arr),
        "inf": np.isposinf(arr),
        "-inf": np.isneginf(arr),
    }
    if arr.ndim == 0:
        return next((k for k, hit in kinds.items() if bool(hit)), _num(arr))
    found = [(k, int(np.sum(hit))) for k, hit in kinds.items() if np.any(hit)]
    if brief:
        return "an array with " + " and ".join(k for k, _ in found) + " entries"
    counts = " and ".join(f"{k} in {n}" for k, n in found)
    first = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
    where = first if len(first) > 1 else first[0]
    return f"an array with {counts} of its {arr.size} entries (the first at index {where})"


def _note_difference(
    fail: StudentFailure,
    what: str,
    got: np.ndarray,
    expected: np.ndarray,
    inputs: Mapping[str, Any],
) -> None:
    """Say how ``got`` differs from ``expected``, only where no known bug's hint explains it
    (docs/SUITES.md; a hint attached later takes the line out again)."""
    if fail.hint is not None:
        return
    text = differences.describe(what or "result", got, expected, inputs)
    if text:
        fail.difference = "\n" + messages.DIFFERS.format(text=text).rstrip()
        fail.message += fail.difference
        fail.args = (fail.message,)


def _attach_hint(
    fail: StudentFailure,
    name: str,
    call: tuple[tuple[Any, ...], Mapping[str, Any]] | None,
    got: Any,
    diagnose: Diagnose | None,
    ask: Ask | None = None,
    part: int | None = None,
) -> None:
    if diagnose is None or call is None:
        return
    more: dict[str, Any] = {}
    if ask is not None:
        more["ask"] = ask
    if part is not None:
        more["part"] = part
    hint = diagnose(name, call[0], call[1], got, **more)
    if hint:
        fail.hint = hint
        if fail.difference:  # the hint says why: "what differs" is for answers it cannot explain
            fail.message = fail.message.replace(fail.difference, "", 1)
            fail.difference = ""
        fail.message += "\n" + messages.HINT.format(hint=hint).rstrip()
        fail.args = (fail.message,)


def with_hint(
    fail: StudentFailure,
    name: str,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    got: Any,
    ask: Ask | None = None,
    part: int | None = None,
) -> StudentFailure:
    """``fail`` with the hint of the known bug that explains ``got`` for this one call, if any.

    For tests that check a sequence of calls (a schedule over ``t``, an optimizer's steps) or
    build their own message: name the call that went wrong and what it returned (``ask`` puts
    the library's probes to the student's function; ``part``: only that member of ``got``).
    """
    diagnose: Diagnose = _diagnosis["whole"]
    if fail.hint is None:
        _attach_hint(fail, name, (args, kwargs), got, diagnose, ask, part)
    return fail


def _inputs_line(inputs: Mapping[str, Any]) -> str:
    return messages.ON_INPUT.format(inputs=summarize_inputs(inputs)) if inputs else ""


def expect_unchanged(name: str, mutated: tuple[str, ...], arg_names: tuple[str, ...]) -> None:
    """Fail if the worker reported an array argument modified in place."""
    if mutated:
        which = mutated[0]
        arg = arg_names[int(which)] if which.isdigit() and int(which) < len(arg_names) else which
        raise StudentFailure(messages.MUTATED.format(name=name, arg=arg), category="input modified")


# -- showing numbers ----------------------------------------------------------------------


def _num(x: Any) -> str:
    return np.format_float_positional(float(x), precision=6, unique=True, trim="-")


def summarize(x: Any, max_entries: int = 12) -> str:
    """Small arrays in full, large ones by shape and range."""
    if isinstance(x, (int, float, np.generic)):
        return _num(x) if not isinstance(x, (bool, np.bool_)) else str(bool(x))
    if isinstance(x, np.ndarray):
        if x.ndim == 0:
            return _num(x)
        if x.size <= max_entries:
            with np.printoptions(precision=6, suppress=True):
                return np.array2string(x, separator=", ").replace("\n", "")
        finite = x[np.isfinite(x)] if x.dtype.kind == "f" else x
        rng = f"{_num(finite.min())} .. {_num(finite.max())}" if finite.size else "no finite values"
        return f"array of shape {x.shape} ({x.dtype}), values {rng}"
    if callable(x):
        return getattr(x, "__doc__", None) or "a function"
    if isinstance(x, (list, tuple)) and len(x) <= max_entries:
        return repr(x)
    return repr(x)[:200]


def summarize_inputs(inputs: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={summarize(v)}" for k, v in inputs.items())


def compare(
    student: Any,
    reference: Any,
    name: str,
    *args: Any,
    parts: tuple[str, ...] = (),
    kinds: tuple[str, ...] = (),
    rtol: float | None = None,
    atol: float | None = None,
    **kwargs: Any,
) -> Any:
    """Call ``name`` on the student's side and the reference's with the same input; compare.

    ``parts`` names the members of a tuple result (``("loss", "dW")``), ``kinds`` says which are
    a gradient (looser float32 tolerance). Returns the student's (normalized) result.
    """
    diagnose: Diagnose = _diagnosis["whole"]
    try:
        got = student.call(name, *args, **kwargs)
    except StudentFailure as fail:
        if fail.category == "exception":  # it raised: say on what input
            inputs = _named_inputs(reference, name, args, kwargs)
            fail.message += messages.ON_INPUT.format(inputs=summarize_inputs(inputs))
            fail.args = (fail.message,)
        raise
    expected = getattr(reference, name)(*_copy_args(args), **_copy_args(kwargs))
    inputs = _named_inputs(reference, name, args, kwargs)
    call = (args, kwargs)

    def ask(a: tuple[Any, ...], k: Mapping[str, Any]) -> Any:
        # a probe is not the test's own call: no timeout strike, no cut of the test (issue 26)
        aside = getattr(student, "aside", None)
        if aside is None:
            return student.call(name, *a, **k)
        with aside():
            return student.call(name, *a, **k)

    if parts:
        if not isinstance(got, (tuple, list)) or len(got) != len(parts):
            raise StudentFailure(
                messages.WRONG_TYPE.format(
                    name=name, expected=f"a tuple ({', '.join(parts)})", got=_kind(got)
                ),
                category="wrong type",
            )
        for i, part in enumerate(parts):
            kind = kinds[i] if kinds else "value"
            try:
                expect_close(
                    name,
                    got[i],
                    expected[i],
                    inputs=inputs,
                    kind=kind,
                    rtol=rtol,
                    atol=atol,
                    what=part,
                )
            except StudentFailure as fail:
                _attach_hint(fail, name, call, got, diagnose, ask)
                if fail.hint is None and not _finite(got[i]):
                    _attach_hint(fail, name, call, got, diagnose, ask, part=i)
                raise
        return got
    expect_close(
        name,
        got,
        expected,
        inputs=inputs,
        kind=kinds[0] if kinds else "value",
        rtol=rtol,
        atol=atol,
        diagnose=diagnose,
        call=call,
        ask=ask,
    )
    return got


def _finite(x: Any) -> bool:
    try:
        return bool(np.all(np.isfinite(np.asarray(x, dtype=np.float64))))
    except (TypeError, ValueError):
        return True


def _copy_args(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, tuple):
        return tuple(_copy_args(v) for v in x)
    if isinstance(x, dict):
        return {k: _copy_args(v) for k, v in x.items()}
    return x


def _named_inputs(
    reference: Any, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    import inspect

    try:
        params = list(inspect.signature(getattr(reference, name)).parameters)
    except (TypeError, ValueError, AttributeError):
        params = []
    named = {params[i] if i < len(params) else f"arg{i}": a for i, a in enumerate(args)}
    return named | dict(kwargs)


def same_values(a: Any, b: Any) -> bool:
    """Whether two results agree as numbers (tuples member by member): a known bug's answer
    matches the student's."""
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(same_values(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):  # e.g. a network's grads, one per parameter
        return a.keys() == b.keys() and all(same_values(a[k], b[k]) for k in a)
    try:
        x = np.asarray(a, dtype=np.float64)
        y = np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    if x.shape != y.shape:
        return False
    return bool(np.allclose(x, y, rtol=1e-5, atol=1e-7, equal_nan=True))


#: ``telling``'s default ``raised``: no answer stands for a call that raised.
_NOTHING: Any = object()


def telling(evidence: list[Any], part: int | None = None, raised: Any = _NOTHING) -> bool:
    """Whether answers that agreed say more than "it fails too": every member compared (the
    whole answer, each member of a tuple, or member ``part``) has a finite number in one of
    them. Answers that are ``raised`` (a call that raised) are left out."""
    answers = [a for a in evidence if a is not raised]
    if not answers:
        return False
    if part is not None:
        return any(_finite_somewhere(a[part]) for a in answers)
    first = answers[0]
    if isinstance(first, (tuple, list)) and first and not _numeric(first):
        return all(
            any(_finite_somewhere(a[i]) for a in answers if len(a) > i) for i in range(len(first))
        )
    return any(_finite_somewhere(a) for a in answers)


def _numeric(x: Any) -> bool:
    """A tuple or list of plain numbers (one array), not a tuple of results."""
    return all(isinstance(v, (int, float, np.generic)) for v in x)


def _finite_somewhere(x: Any) -> bool:
    """Whether ``x`` holds at least one finite number (anything that is not numbers counts)."""
    if isinstance(x, dict):
        return any(_finite_somewhere(v) for v in x.values())
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        return True
    return arr.size == 0 or bool(np.any(np.isfinite(arr)))
