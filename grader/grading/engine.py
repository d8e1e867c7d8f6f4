"""Grade one submission: intake -> sandbox -> the pytest suites -> a ``GradingResult``.

Runs in the trusted process. The suites are collected and run by pytest in-process with the
grading plugin; every student call crosses into the sandbox. A fault of the grader itself (not of
the student's code) still yields a result: score 0, "the autograder failed", traceback for staff.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import io
import os
import stat
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader import messages
from grader.authoring import pack
from grader.grading import results_json as gradescope
from grader.grading.results import GradingResult, TestOutcome
from grader.grading.session import EngineHook, GradingSession
from grader.grading.version import Version, engine_options, grader_version, suite_digest
from grader.sandbox.host import Mother, Sandbox, adopted
from grader.sandbox.layers import (
    DEFAULT_LIMITS,
    Limits,
    landlock_expected,
    running_as_root,
    undumpable,
    unsafe_disabled,
)

if TYPE_CHECKING:
    from grader.grading.cores import Spare
    from grader.grading.submission import Submission

SUITES = ("public", "hidden")


@dataclass(frozen=True)
class Options:
    suites: tuple[str, ...] = SUITES
    only: str | None = None  # grade the tests tagged with one function only
    verbose: bool = False
    #: the workers' limits; None: the engine's defaults with the pack's ``[limits]``
    limits: Limits | None = None
    gpu_counts: bool = True
    #: called with each test outcome as it is decided, and the number of tests
    progress: Callable[[TestOutcome, int], None] | None = None
    #: where results.json will be written: closed to the sandbox users as root, and probed by
    #: the start-up canary (``grader.sandbox.canary``)
    results_dir: Path | None = None
    #: grading processes to share the tests between (``grader.grading.shard``; the results are those
    #: of a serial run); None: one per core this process may use, at most ``cores.DEFAULT_MAX``
    shards: int | None = None
    #: cores a batch lends once its other gradings are done (``cores.Spare``; same results)
    spare: Spare | None = None

    def __post_init__(self) -> None:
        pack.active().check_only(self.only)


def grade(
    submission: Path | Submission, options: Options | None = None, mother: Mother | None = None
) -> GradingResult:
    """Grade ``submission`` (folder, zip, notebook or .py file, or what the intake read of one:
    a Dask worker receives content, not paths); never raises for its content.

    ``options``: default ``Options()``, made at the call (not at import: that reads the pack).

    ``mother``: a warm ``grader.sandbox.host.Mother`` to fork the sandbox from (batch grading);
    default: the one this process adopted (``grader.prefork``), else a zygote of its own.
    """

    from grader.sandbox.canary import CanaryFailure

    start = time.monotonic()
    options = Options() if options is None else options
    # What grades it (issue 14): in the hidden part of results.json and in a gradebook row.
    stamp = {"version": version_of(options).as_json()}
    if mother is None:
        mother = adopted()
    try:
        with _collector_held_off():
            return _grade(submission, options, start, mother, stamp)
    except CanaryFailure as exc:
        # Not a traceback: the staff-only entry names what the sandbox let through.
        return GradingResult(
            tests=(),
            grader_error=str(exc),
            execution_time=time.monotonic() - start,
            extra_data=stamp,
        )
    except Exception:
        return GradingResult(
            tests=(),
            grader_error=traceback.format_exc(),
            execution_time=time.monotonic() - start,
            extra_data=stamp,
        )


def version_of(options: Options) -> Version:
    """The suite digest of these options and this grader's version (``grader.grading.version``)."""
    digest = suite_digest(engine_options(options.suites, options.only, options.gpu_counts))
    return Version(digest, grader_version())


#: Gradings this process has run: a batch's grading process, a Dask worker or the test suite
#: runs many (``_collector_held_off``).
_gradings = 0


@contextlib.contextmanager
def _collector_held_off() -> Iterator[None]:
    """No cyclic garbage collection while the grading starts up; restored afterwards.

    Importing torch, Hypothesis and the suites creates ~1.5 million long-lived objects and
    little garbage, yet the collector walked all of them in each full collection it started on
    the way (~0.1 s each). The plugin freezes what start-up built and turns the collector back
    on when the tests begin (``grader.grading.plugin.Grading.pytest_runtestloop``), and unfreezes it
    after them. What a grading leaves (its pytest session, the suite modules: cycles) is then in
    the oldest generation, which the collector seldom visits; a process that grades again
    collects it first (~0.1-0.2 s), or a warm process would grow by megabytes per grading.
    """
    global _gradings
    if _gradings:
        gc.collect()
    _gradings += 1
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def grade_to_file(submission: Path, out: Path, options: Options | None = None) -> GradingResult:
    """Grade, then write results.json; every process of the submission is dead by then."""
    options = Options() if options is None else options
    if options.results_dir is None:
        options = dataclasses.replace(options, results_dir=out.resolve().parent)
    result = grade(submission, options)
    gradescope.write(result, out)
    return result


def _grade(
    submission: Path | Submission,
    options: Options,
    start: float,
    mother: Mother | None,
    stamp: dict[str, Any],
) -> GradingResult:
    from grader.grading.submission import Submission, SubmissionError, load_submission

    notes: list[str] = []
    sources: dict[str, str] = {}
    digest = ""
    try:
        sub = submission if isinstance(submission, Submission) else load_submission(submission)
    except SubmissionError as exc:
        notes.append(str(exc))
    else:
        digest = sub.digest
        notes.extend(p.message for p in sub.problems)
        if not any(p.fatal for p in sub.problems):
            sources = dict(sub.sources)
    protect_trusted_files(options.results_dir)
    allowlist_notice()
    box = new_sandbox(sources, limits=options.limits or pack_limits(), mother=mother)
    with undumpable(), box:
        canary_report = _arm_canary(box, options.results_dir)
        session = GradingSession(
            sandbox=box,
            submitted=frozenset(sources),
            hidden_root=pack.active().hidden_suite,
            verbose=options.verbose,
            gpu_counts=options.gpu_counts,
            only=options.only,
            progress=options.progress,
            shards=options.shards if options.shards is not None else default_shards(),
            spare=options.spare,
        )
        log, code = run_suites(session, options.suites)
        layers = dict(box.layers)
    if box.failed is not None:  # every test would have failed for the grader's sake, not theirs
        raise RuntimeError(f"the sandbox did not start: {box.failed}")
    if box.gate_error is not None:
        raise box.gate_error  # the canary refused: no student code ran, no outcome counts
    # Closing the sandbox killed every process the submission started; fail closed if one is
    # still alive (it could write somewhere after the results are out).
    if box.survivors:
        raise RuntimeError(f"processes of the submission survived the grading: {box.survivors}")
    if canary_report:
        from grader.sandbox import canary

        canary.warn(canary_report[0])
    if code == _NO_TESTS and options.only is not None and not session.collection_errors:
        notes.append(messages.NONE_EXAMINES.format(name=options.only))
    elif code not in (0, 1) or session.collection_errors or not session.outcomes:
        detail = "\n".join(session.collection_errors) or log[-6000:]
        raise RuntimeError(f"the grading suites did not run (pytest exit {code}):\n{detail}")
    return GradingResult(
        tests=tuple(session.outcomes),
        output="\n".join(notes),
        execution_time=time.monotonic() - start,
        extra_data={
            "submission_digest": digest,
            "sandbox": layers,
            "files": sorted(sources),
            **stamp,
        },
    )


_NO_TESTS = 5  # pytest.ExitCode.NO_TESTS_COLLECTED, without importing pytest here


def run_suites(session: GradingSession, suites: Sequence[str]) -> tuple[str, int]:
    """Run the suites with pytest in this process; returns pytest's log and exit code."""
    import pytest

    paths = [str(pack.active().suites / s) for s in suites]
    args = [
        *paths,
        "-c",
        str(pack.active().suites / "pytest.ini"),
        "--rootdir",
        str(pack.active().suites),
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
        # pytest formats every failure's traceback before the plugin replaces it with the
        # student's message: its "long" style parses the source of every frame (~45 ms a failing
        # test, 10 of the stubs' 15 s). "native" is the traceback module's, read from linecache.
        "--tb=native",
        "-q",
        "--no-header",
    ]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        code = pytest.main(args, plugins=[EngineHook(session)])
    return buf.getvalue(), int(code)


def default_shards() -> int:
    from grader.grading import shard

    return shard.default_shards()


def _arm_canary(box: Sandbox, results_dir: Path | None) -> list[Any]:
    """Run the start-up canary before the first worker that runs student code.

    Not at once: the zygote is still importing torch while pytest collects the suites, and the
    canary's worker would wait for it (``Sandbox.gate``). The returned list receives the report
    (its warnings are printed after the suites: pytest captures stderr while they run).
    """
    report: list[Any] = []
    if "canary" in box.disabled:
        return report

    def gate() -> None:
        from grader.sandbox import canary

        report.append(canary.check(box, results_dir))
        box.layers["canary"] = report[0].summary()

    box.gate = gate
    return report


def _uses_torch(sources: dict[str, str]) -> bool:
    """Whether the zygote needs torch: a module the manifest says needs it was handed in, or
    some code names it (a lean zygote still serves the rest, ``sandbox.lean_eligible``)."""
    torch_files = {f"{m}.py" for m in pack.active().torch_modules}
    return any(name in sources for name in torch_files) or any(
        "torch" in text for name, text in sources.items() if name.endswith(".py")
    )


def pack_limits() -> Limits:
    """The engine's default limits with what the active pack's manifest sets in ``[limits]``."""
    own = pack.active().limits
    changes: dict[str, Any] = {}
    if own.call_timeout is not None:
        changes["call_timeout"] = own.call_timeout
    if own.memory_mb is not None:
        changes["memory"] = own.memory_mb * 2**20
    if own.cpu is not None:
        changes["cpu"] = own.cpu
    return dataclasses.replace(DEFAULT_LIMITS, **changes)


def new_sandbox(sources: dict[str, str], **kwargs: Any) -> Sandbox:
    """A sandbox for the active pack: its modules, its torch modules' files."""
    p = pack.active()
    return Sandbox(
        sources,
        torch=_uses_torch(sources),
        modules=p.module_names,
        torch_files=tuple(f"{m}.py" for m in p.torch_modules),
        **kwargs,
    )


def protect_trusted_files(results_dir: Path | None = None) -> None:
    """Create the results directory; where no allowlist can hold, close the trusted files.

    Where the kernel has Landlock (and it is not turned off), the workers cannot reach anything
    outside their allowlist, whatever its mode (``grader.sandbox.filesystem``), and the grader
    leaves the
    instructor's files as they are. Without it, as root, this is the fallback it was before the
    allowlist: the trusted files and the results directory are closed to the sandbox users
    (``chmod go-rwx``; a fresh clone is world-readable). A directory that is not ours to close
    is left as it is: a shared sticky directory such as /tmp, or an ancestor of what the worker
    must reach (the repository root holding ``grader/``, the interpreter); the canary checks
    that the sandbox uid cannot write it.
    """
    if results_dir is not None:
        results_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not running_as_root() or landlock_expected(unsafe_disabled()):
        return
    for path in pack.trusted_dirs():
        with contextlib.suppress(FileNotFoundError):
            _close(path)
    if results_dir is not None and _closable(results_dir):
        _close(results_dir)


_NOTICED: set[str] = set()


def allowlist_notice() -> None:
    """Say once, at start-up, when the kernel has no Landlock: what is left of the allowlist."""
    from grader.sandbox import landlock

    version, why = landlock.abi()
    if version or why in _NOTICED:
        return
    _NOTICED.add(why)
    print("grader: " + messages.NO_LANDLOCK.format(why=why), file=sys.stderr, flush=True)


def _closable(d: Path) -> bool:
    st = d.stat()
    if st.st_uid != 0 or (st.st_mode & stat.S_ISVTX and st.st_mode & stat.S_IWOTH):
        return False
    needed = (
        pack.ROOT,
        Path(sys.prefix),
        Path(sys.base_prefix),
        Path(__file__).resolve().parents[1],  # the grader package
        Path(tempfile.gettempdir()),
    )
    return not any(n.resolve().is_relative_to(d.resolve()) for n in needed)


def _close(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IRWXO | stat.S_IRWXG):
        os.chmod(path, mode & ~(stat.S_IRWXO | stat.S_IRWXG))


def open_session(submission: Path, verbose: bool = False) -> GradingSession:
    """A grading session for plain ``pytest --grader-submission PATH`` (the caller closes it)."""
    from grader.grading.submission import load_submission

    sub = load_submission(submission)
    sources = {} if any(p.fatal for p in sub.problems) else dict(sub.sources)
    protect_trusted_files()
    box = new_sandbox(sources).start()
    _arm_canary(box, None)
    return GradingSession(
        sandbox=box,
        submitted=frozenset(sources),
        hidden_root=pack.active().hidden_suite,
        verbose=verbose,
    )


def summary(result: GradingResult) -> dict[str, Any]:
    return {
        "score": result.score,
        "max_score": result.max_score,
        "tests": len(result.tests),
        "failed": sum(t.status == "failed" for t in result.tests),
    }
