"""Turning a failed test into feedback: the student's message, the hidden-test message, hints.

Hints come from *bug fingerprints*: a library of known-buggy variants of the reference, each one
mistake of one or a few lines (``tests/grading/bugs.py``, trusted: it quotes reference lines).
When a check fails, ``diagnose`` runs every variant of the failing function on the same input,
here on the trusted side. A variant *explains* the student's answer only when it agrees with it
as numbers, not merely in how it fails: two answers that are both inf, or both wrong, are not a
match. So a variant whose answer on the test's input carries no finite number (a loss of inf, a
gradient of nan) must be confirmed on the library's *probes* of that function (``PROBES``):
inputs chosen to tell such bugs apart (scores where ``exp`` overflows but no probability
underflows, say), on which the student's function and the variant must agree too, with finite
numbers among them. A variant that disagrees with the student on any probe is never named. The
same table makes the bug corpus of the test suite, so every hint is proven to fire.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import traceback
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from grader import messages
from grader.authoring import pack
from grader.grading.checks import Ask, same_values, telling


@dataclass(frozen=True)
class Bug:
    """A mistake in the reference: what a student might write, and what to tell them.

    ``old`` -> ``new`` is its first edit, ``also`` holds any further ``(old, new)`` edits of the
    same file (a mistake students make on two lines at once, such as one convention in both the
    loss and its gradient). Each ``old`` is a substring of exactly one line of the file as the
    edits before it left it.
    """

    id: str
    function: str
    file: str  # the solution file, e.g. "layers.py"
    old: str  # a substring of exactly one line of the reference file
    new: str  # what that substring becomes
    hint: str  # addressed to the student
    fingerprint: bool = True  # False: too generic to name as a diagnosis (still in the corpus)
    also: tuple[tuple[str, str], ...] = ()  # further (old, new) edits, applied in order

    @property
    def edits(self) -> tuple[tuple[str, str], ...]:
        return ((self.old, self.new), *self.also)

    def patch(self, source: str) -> str:
        for old, new in self.edits:
            lines = source.splitlines(keepends=True)
            hits = [i for i, line in enumerate(lines) if old in line]
            if len(hits) != 1:
                raise ValueError(f"bug {self.id}: {old!r} is on {len(hits)} lines of {self.file}")
            lines[hits[0]] = lines[hits[0]].replace(old, new, 1)
            source = "".join(lines)
        return source


@dataclass(frozen=True)
class Probe:
    """An input on which the known bugs of ``function`` are compared with the student's answer
    when the test's own input cannot tell them apart (``about`` says what it is for)."""

    function: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    about: str = ""


@dataclass(frozen=True)
class Feedback:
    public: str
    hidden: str
    staff: dict[str, Any] = field(default_factory=dict)


def explain(
    excinfo: Any, tags: tuple[str, ...], verbose: bool = False, category: str | None = None
) -> Feedback:
    """What went wrong in a failed test, for the student (public/hidden) and for staff.

    ``category``: the test's own ``@pytest.mark.category`` (what it checks); a hidden test's
    message names it before the kind of failure the check saw."""
    marked = category
    from grader.grading.checks import StudentFailure
    from grader.sandbox.layers import WorkerGone

    name = tags[0] if tags else "your code"
    exc = None if excinfo is None else excinfo.value
    staff: dict[str, Any] = {}
    notes = "\n".join(str(n) for n in getattr(exc, "__notes__", ()))
    if isinstance(exc, StudentFailure):
        public = exc.message
        if verbose and exc.detail:
            public += "\n" + exc.detail
        category = exc.category
        if exc.hint:
            staff["fingerprint"] = exc.hint
        if exc.staff:
            staff["traceback"] = exc.staff
        if notes:
            public += "\n" + _clean_notes(notes)
    elif isinstance(exc, WorkerGone):
        public = messages.WORKER_GONE.format(name=name, reason=exc.reason)
        category = "crashed or timed out"
        if exc.staff:  # what the worker said of its failure: for staff only
            staff["worker"] = exc.staff
            if exc.grader_fault:  # said before any student code ran: the grader's own failure
                staff["suspect_grader"] = True
            else:  # said after: the student's code may have written it (issue 29)
                staff["worker_unverified"] = True
    elif exc is not None and type(exc).__name__ in ("Flaky", "FlakyFailure", "FlakyReplay"):
        public = messages.NONDETERMINISTIC.format(name=name)
        category = "nondeterministic"
    elif isinstance(exc, AssertionError):
        public, category = str(exc) or f"a check of `{name}` failed", "wrong result"
        if notes:
            public += "\n" + _clean_notes(notes)
    else:
        # An error in the suite's own code while checking: still a fail, but flag it for staff.
        kind = type(exc).__name__
        public = messages.COULD_NOT_CHECK.format(name=name, kind=kind)
        category = "unexpected result"
        staff["suspect_grader"] = True
    if excinfo is not None:
        tb = _from_the_suites(excinfo.tb)
        staff.setdefault(
            "traceback",
            "".join(traceback.format_exception(excinfo.type, excinfo.value, tb))[-6000:],
        )
    staff["message"] = public
    hint = getattr(exc, "hint", None)
    if marked:
        category = f"{marked}: {category}"
    hidden = messages.HIDDEN.format(name=name, category=category, advice=messages.HIDDEN_ADVICE)
    if hint:
        hidden += "\n" + messages.HINT.format(hint=hint).rstrip()
    if isinstance(exc, WorkerGone):
        hidden = messages.WORKER_GONE.format(name=name, reason=exc.reason)
    return Feedback(public=messages.sanitize(public, 8000), hidden=hidden, staff=staff)


def _from_the_suites(tb: Any) -> Any:
    """The traceback from its first frame in the grading suites on (the whole one if none is).

    Above that frame are pytest's runner and pluggy's hook calls, ~4 KB of every failed test's
    staff traceback that say nothing about the failure (issue 14: results.json's size).
    """
    t = tb
    while t is not None:
        if Path(t.tb_frame.f_code.co_filename).is_relative_to(pack.active().suites):
            return t
        t = t.tb_next
    return tb


_FIXTURE_ARG = re.compile(r"\s*(student|reference|diagnose)=")


def _clean_notes(notes: str) -> str:
    """Hypothesis's shrunk input, without the fixtures (whose reprs carry memory addresses)."""
    lines = [ln for ln in notes.splitlines() if not _FIXTURE_ARG.match(ln)]
    text = "\n".join(lines)
    for prefix in ("Falsifying example:", "Failing test case:"):
        text = text.replace(prefix, "smallest failing input found:")
    return "  " + text.replace("\n", "\n  ")


# -- fingerprints -------------------------------------------------------------------------


class _Raised:
    """What a call that raised answered (a probe the student's code or a variant fails on)."""

    def __repr__(self) -> str:
        return "<raised>"


RAISED: Any = _Raised()


def bugs(suites: Path | None = None) -> tuple[Bug, ...]:
    """The bug library of the grading suites (default: the active pack's; empty if none)."""
    return _library(pack.active().suites if suites is None else suites)[0]


def probes(name: str, suites: Path | None = None) -> tuple[Probe, ...]:
    """The library's probe inputs of the function ``name`` (none where it defines no ``PROBES``)."""
    found = _library(pack.active().suites if suites is None else suites)[1]
    return tuple(p for p in found if p.function == name)


def _calls(suites: Path | None = None) -> Mapping[str, Callable[..., Any]]:
    """The library's ``CALLS``: how to call a variant's ``name`` where it is not a plain function
    (``CALLS[name](thing, *args, **kwargs)``, e.g. a class's forward), by name."""
    return _library(pack.active().suites if suites is None else suites)[2]


@cache
def _library(
    suites: Path,
) -> tuple[tuple[Bug, ...], tuple[Probe, ...], Mapping[str, Callable[..., Any]]]:
    path = suites / "bugs.py"
    if not path.exists():
        return (), (), {}
    spec = importlib.util.spec_from_file_location("grader_suite_bugs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return (
        tuple(module.BUGS),
        tuple(getattr(module, "PROBES", ())),
        dict(getattr(module, "CALLS", {})),
    )


@cache
def _variant(bug_id: str) -> types.ModuleType | None:
    """The reference module of the bug's function with the bug's lines patched in."""
    from grader.grading.reference import load_modules

    bug = next(b for b in bugs() if b.id == bug_id)
    source = (pack.active().solutions / bug.file).read_text(encoding="utf-8")
    modules = load_modules(
        pack.active().solutions, {bug.file: bug.patch(source)}, only=[bug.file[:-3]]
    )
    return modules.get(bug.file[:-3])


def diagnose(
    name: str,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    got: Any,
    ask: Ask | None = None,
    part: int | None = None,
) -> str | None:
    """The hint of the first known bug that explains ``got``, the student's answer here.

    A bug explains it when its variant's answer agrees with ``got`` (only member ``part`` of a
    tuple result, if given) and, where the function has probes and ``ask`` can put them to the
    student's function, with the student's answer on every probe (the whole answer where both
    are finite throughout); and when finite numbers are among what agreed, in every member
    compared (``telling``): agreeing on inf or nan alone says only that both fail, not why.

    Without the bug library or the reference it patches (a student bundle), the variants'
    answers recorded for the public tests' inputs stand in for them (``grader.grading.answers``),
    and only a telling match on the test's own input counts.
    """
    if not bugs() or not pack.active().solutions.is_dir():
        from grader.grading import answers

        return answers.recorded_hint(name, args, kwargs, got) if part is None else None
    found = [
        (bug, theirs) for bug, theirs in _answers(name, args, kwargs) if agree(theirs, got, part)
    ]
    if not found:
        return None
    tried = probes(name) if ask is not None else ()
    own = _Lazy(ask, tried)
    for bug, theirs in found:
        if _explains(bug, name, theirs, tried, own, part):
            return bug.hint
    return None


def _explains(
    bug: Bug, name: str, theirs: Any, tried: tuple[Probe, ...], own: _Lazy, part: int | None
) -> bool:
    """Whether the bug, which agrees with the student on the test's input (``theirs``), agrees
    on every probe the student could answer too, with finite numbers among what agreed.

    ``part`` narrows the test's own input, and a probe where either answer is not finite
    throughout; on a probe where both are, the whole answers must agree, since a bug's hint may
    speak of every member (a loss and dW convention named together must not be named to a
    student whose dW is right, issue 26)."""
    evidence = [theirs]
    for i, probe in enumerate(tried):
        mine = own[i]
        if own.gone:
            break  # the student's worker is gone: judge on what was asked before
        answer = _run(bug, name, probe.args, probe.kwargs)
        whole = _finite_throughout(answer) and _finite_throughout(mine)
        if not agree(answer, mine, None if whole else part):
            return False
        evidence.append(answer)
    return telling(evidence, part, RAISED)


def _finite_throughout(x: Any) -> bool:
    """Whether an answer (a tuple: each member) holds only finite numbers (a raise: no)."""
    if x is RAISED:
        return False
    if isinstance(x, (tuple, list)):
        return all(_finite_throughout(v) for v in x)
    try:
        return bool(np.all(np.isfinite(np.asarray(x, dtype=np.float64))))
    except (TypeError, ValueError):
        return True


class _Lazy:
    """The student's answers to the probes, asked for only when a candidate needs them."""

    def __init__(self, ask: Ask | None, tried: tuple[Probe, ...]) -> None:
        self.ask, self.tried = ask, tried
        self.answers: dict[int, Any] = {}
        self.gone = False

    def __getitem__(self, i: int) -> Any:
        if i not in self.answers:
            if self.gone or self.ask is None:
                return RAISED
            from grader.sandbox.layers import WorkerGone

            probe = self.tried[i]
            try:
                self.answers[i] = self.ask(_copies(probe.args), _copies(dict(probe.kwargs)))
            except WorkerGone:
                self.gone = True
                return RAISED
            except Exception:
                self.answers[i] = RAISED
        return self.answers[i]


def agree(theirs: Any, mine: Any, part: int | None = None) -> bool:
    """Whether a variant's answer and the student's agree as numbers (member ``part`` only)."""
    if theirs is RAISED or mine is RAISED:
        return theirs is mine
    if part is not None:
        if not (
            isinstance(theirs, (tuple, list))
            and isinstance(mine, (tuple, list))
            and len(theirs) > part
            and len(mine) > part
        ):
            return False
        theirs, mine = theirs[part], mine[part]
    return same_values(theirs, mine)


def _answers(
    name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> Iterator[tuple[Bug, Any]]:
    for bug in bugs():
        if bug.function != name or not bug.fingerprint:
            continue
        theirs = _run(bug, name, args, kwargs)
        if theirs is not RAISED:
            yield bug, theirs


def _run(bug: Bug, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    """The bug's variant of ``name`` on this input (``RAISED`` if it raises)."""
    try:
        fn = getattr(_variant(bug.id), name)
        call = _calls().get(name)
        with np.errstate(all="ignore"):
            if call is not None:
                return call(fn, *_copies(args), **_copies(dict(kwargs)))
            return fn(*_copies(args), **_copies(dict(kwargs)))
    except Exception:
        return RAISED


def fingerprints(
    name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> Iterator[tuple[str, Any]]:
    """``(hint, what the bug's variant returns here)`` for each known bug of ``name``, in order."""
    for bug, theirs in _answers(name, args, kwargs):
        yield bug.hint, theirs


def _copies(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, tuple):
        return tuple(_copies(v) for v in x)
    if isinstance(x, list):
        return [_copies(v) for v in x]
    if isinstance(x, dict):
        return {k: _copies(v) for k, v in x.items()}
    return x
