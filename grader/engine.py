"""Grade one submission: intake -> sandbox -> the pytest suites -> a ``GradingResult``.

Runs in the trusted process. The suites are collected and run by pytest in-process with the
grading plugin; every student call crosses into the sandbox. A fault of the grader itself (not of
the student's code) still yields a result: score 0, "the autograder failed", traceback for staff.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import gradescope, layout, spec
from grader.plugin import EngineHook, GradingSession
from grader.results import GradingResult, TestOutcome
from grader.sandbox import DEFAULT_LIMITS, Limits, Mother, Sandbox, running_as_root

SUITES = ("public", "hidden")


@dataclass(frozen=True)
class Options:
    suites: tuple[str, ...] = SUITES
    only: str | None = None  # grade the tests tagged with one function only
    verbose: bool = False
    limits: Limits = DEFAULT_LIMITS
    gpu_counts: bool = True
    #: called with each test outcome as it is decided, and the number of tests
    progress: Callable[[TestOutcome, int], None] | None = None

    def __post_init__(self) -> None:
        if self.only is not None and self.only not in spec.MODULE_OF | spec.MODULES:
            names = [*spec.MODULE_OF, *spec.MODULES]
            raise ValueError(
                f"--only {self.only!r}: not a function, class or module of the assignment"
                f"{spec.did_you_mean(self.only, names)}"
            )


def grade(
    submission: Path, options: Options = Options(), mother: Mother | None = None
) -> GradingResult:
    """Grade ``submission`` (folder, zip, notebook or .py file); never raises for its content.

    ``mother``: a warm ``grader.sandbox.Mother`` to fork the sandbox from (batch grading).
    """
    start = time.monotonic()
    try:
        return _grade(submission, options, start, mother)
    except Exception:
        return GradingResult(
            tests=(),
            grader_error=traceback.format_exc(),
            execution_time=time.monotonic() - start,
        )


def grade_to_file(submission: Path, out: Path, options: Options = Options()) -> GradingResult:
    result = grade(submission, options)
    gradescope.write(result, out)
    return result


def _grade(
    submission: Path, options: Options, start: float, mother: Mother | None
) -> GradingResult:
    from grader.submission import SubmissionError, load_submission

    notes: list[str] = []
    sources: dict[str, str] = {}
    digest = ""
    try:
        sub = load_submission(submission)
    except SubmissionError as exc:
        notes.append(str(exc))
    else:
        digest = sub.digest
        notes.extend(p.message for p in sub.problems)
        if not any(p.fatal for p in sub.problems):
            sources = dict(sub.sources)
    protect_trusted_files()
    box = Sandbox(sources, limits=options.limits, torch=_uses_torch(sources), mother=mother)
    with box:
        session = GradingSession(
            sandbox=box,
            submitted=frozenset(sources),
            hidden_root=layout.HIDDEN_SUITE,
            verbose=options.verbose,
            gpu_counts=options.gpu_counts,
            only=options.only,
            progress=options.progress,
        )
        log, code = run_suites(session, options.suites)
        layers = dict(box.layers)
    if box.failed is not None:  # every test would have failed for the grader's sake, not theirs
        raise RuntimeError(f"the sandbox did not start: {box.failed}")
    if code == _NO_TESTS and options.only is not None and not session.collection_errors:
        notes.append(f"no test in these suites examines `{options.only}`")
    elif code not in (0, 1) or session.collection_errors or not session.outcomes:
        detail = "\n".join(session.collection_errors) or log[-6000:]
        raise RuntimeError(f"the grading suites did not run (pytest exit {code}):\n{detail}")
    return GradingResult(
        tests=tuple(session.outcomes),
        output="\n".join(notes),
        execution_time=time.monotonic() - start,
        extra_data={"submission_digest": digest, "sandbox": layers, "files": sorted(sources)},
    )


_NO_TESTS = 5  # pytest.ExitCode.NO_TESTS_COLLECTED, without importing pytest here


def run_suites(session: GradingSession, suites: Sequence[str]) -> tuple[str, int]:
    """Run the suites with pytest in this process; returns pytest's log and exit code."""
    import pytest

    paths = [str(layout.SUITES / s) for s in suites]
    args = [
        *paths,
        "-c",
        str(layout.SUITES / "pytest.ini"),
        "--rootdir",
        str(layout.SUITES),
        "--import-mode=importlib",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        # The suites report through StudentFailure, not bare asserts: rewriting every test
        # module (and every Hypothesis module imported after start-up) cost ~0.6 s a grading.
        "--assert=plain",
        # Its clean-up runs gc.collect() twice (~0.2 s); the worker is where student objects live.
        "-p",
        "no:unraisableexception",
        # Log capture wraps every phase of every test (~1 ms each); the suites do not log.
        "-p",
        "no:logging",
        "-q",
        "--no-header",
    ]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        code = pytest.main(args, plugins=[EngineHook(session)])
    return buf.getvalue(), int(code)


def _uses_torch(sources: dict[str, str]) -> bool:
    return "torch_losses.py" in sources or any("torch" in s for s in sources.values())


def protect_trusted_files() -> None:
    """As root, make the reference and the suites unreadable to the sandbox users.

    A fresh clone is world-readable (umask 022); Gradescope's setup.sh does the same with
    ``chmod o=``. A student on their own laptop runs unprivileged and owns these files anyway.
    """
    if not running_as_root():
        return
    for path in layout.TRUSTED_DIRS:
        with contextlib.suppress(FileNotFoundError):
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXO | stat.S_IRWXG):
                os.chmod(path, stat.S_IMODE(mode) & ~(stat.S_IRWXO | stat.S_IRWXG))


def open_session(submission: Path, verbose: bool = False) -> GradingSession:
    """A grading session for plain ``pytest --grader-submission PATH`` (the caller closes it)."""
    from grader.submission import load_submission

    sub = load_submission(submission)
    sources = {} if any(p.fatal for p in sub.problems) else dict(sub.sources)
    box = Sandbox(sources, torch=_uses_torch(sources)).start()
    return GradingSession(
        sandbox=box,
        submitted=frozenset(sources),
        hidden_root=layout.HIDDEN_SUITE,
        verbose=verbose,
    )


def summary(result: GradingResult) -> dict[str, Any]:
    return {
        "score": result.score,
        "max_score": result.max_score,
        "tests": len(result.tests),
        "failed": sum(t.status == "failed" for t in result.tests),
    }
