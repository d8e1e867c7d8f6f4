"""Turning a failed test into feedback: the student's message, the hidden-test message, hints.

Hints come from *bug fingerprints*: a library of known-buggy variants of the reference, each one
wrong line (``tests/grading/bugs.py``, trusted: it quotes reference lines). When a check fails,
``diagnose`` runs every variant of the failing function on the same input, here on the trusted
side, and if one of them produces exactly what the student returned, its hint is the diagnosis.
The same table makes the single-bug corpus of the test suite, so every hint is proven to fire.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import traceback
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from grader import messages
from grader.authoring import pack
from grader.grading.checks import same_values


@dataclass(frozen=True)
class Bug:
    """One wrong line in the reference: what a student might write, and what to tell them."""

    id: str
    function: str
    file: str  # the solution file, e.g. "layers.py"
    old: str  # a substring of exactly one line of the reference file
    new: str  # what that substring becomes
    hint: str  # addressed to the student
    fingerprint: bool = True  # False: too generic to name as a diagnosis (still in the corpus)

    def patch(self, source: str) -> str:
        lines = source.splitlines(keepends=True)
        hits = [i for i, line in enumerate(lines) if self.old in line]
        if len(hits) != 1:
            raise ValueError(f"bug {self.id}: {self.old!r} is on {len(hits)} lines of {self.file}")
        lines[hits[0]] = lines[hits[0]].replace(self.old, self.new, 1)
        return "".join(lines)


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
        if exc.staff:  # the worker's own failure: its traceback is the grader's, for staff only
            staff["worker"] = exc.staff
            staff["suspect_grader"] = True
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


def bugs(suites: Path | None = None) -> tuple[Bug, ...]:
    """The bug library of the grading suites (default: the active pack's; empty if none)."""
    return _bugs(pack.active().suites if suites is None else suites)


@cache
def _bugs(suites: Path) -> tuple[Bug, ...]:
    path = suites / "bugs.py"
    if not path.exists():
        return ()
    spec = importlib.util.spec_from_file_location("grader_suite_bugs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return tuple(module.BUGS)


@cache
def _variant(bug_id: str) -> types.ModuleType | None:
    """The reference module of the bug's function with the bug's line patched in."""
    from grader.grading.reference import load_modules

    bug = next(b for b in bugs() if b.id == bug_id)
    source = (pack.active().solutions / bug.file).read_text(encoding="utf-8")
    modules = load_modules(
        pack.active().solutions, {bug.file: bug.patch(source)}, only=[bug.file[:-3]]
    )
    return modules.get(bug.file[:-3])


def diagnose(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], got: Any) -> str | None:
    """The hint of the first known bug whose variant returns ``got`` on this input.

    Without the bug library or the reference it patches (a student bundle), the variants'
    answers recorded for the public tests' inputs stand in for them (``grader.grading.answers``).
    """
    if not bugs() or not pack.active().solutions.is_dir():
        from grader.grading import answers

        return answers.recorded_hint(name, args, kwargs, got)
    for hint, theirs in fingerprints(name, args, kwargs):
        if same_values(theirs, got):
            return hint
    return None


def diagnose_part(
    name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, got: Any
) -> str | None:
    """The hint of the first known bug whose variant returns ``got`` as member ``index``.

    For a tuple result whose failing member is not finite: a real bug that makes the loss -inf
    makes the gradient inf or nan, but not always the same entries as the library's variant, and
    the student should still read the diagnosis of the loss (issue 16). Needs the bug library.
    """
    if not bugs() or not pack.active().solutions.is_dir():
        return None
    for hint, theirs in fingerprints(name, args, kwargs):
        if (
            isinstance(theirs, (tuple, list))
            and len(theirs) > index
            and same_values(theirs[index], got)
        ):
            return hint
    return None


def fingerprints(
    name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> Iterator[tuple[str, Any]]:
    """``(hint, what the bug's variant returns here)`` for each known bug of ``name``, in order."""
    for bug in bugs():
        if bug.function != name or not bug.fingerprint:
            continue
        try:
            module = _variant(bug.id)
            fn = getattr(module, name)
            with np.errstate(all="ignore"):
                theirs = fn(*_copies(args), **_copies(dict(kwargs)))
        except Exception:
            continue
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
