"""Grade a whole class: its submissions graded on warm worker processes, kept in a gradebook.

(What it grades comes from ``grader.classroom.discover``; the grading processes are
``grader.classroom.process``, the Dask backend ``grader.classroom.cluster``.)

    grader batch INPUT --out DIR [--jobs N] [--dask ADDRESS]

The coordinator (this process) never grades. It hands submissions to long-lived *grading
processes* (``grader.classroom.process``), each holding one warm ``sandbox.Mother`` and the
imports of torch, pytest, Hypothesis and the reference. The coordinator is the single writer of
``DIR/results/<id>.json`` (through ``gradescope.write``) and of ``DIR/gradebook.sqlite`` (one
transaction per submission). With ``--dask`` the same grading processes run under Dask workers
(``grader.classroom.cluster``) and the results come back here. Reasons for each choice are in
docs/BATCH.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import os
import queue
import statistics
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO

from grader.authoring import pack
from grader.classroom import gradebook, regrade, similarity
from grader.classroom.discover import BatchError, Job, content_digest, discover
from grader.classroom.gradebook import Gradebook, Outcome, Record, SubmissionStatus
from grader.classroom.process import DEFAULT_RECYCLE, Graded, GraderProcess, from_wire
from grader.classroom.regrade import Regrade
from grader.grading import cores, version
from grader.grading.cores import Spare
from grader.grading.results import GradingResult
from grader.grading.version import Version
from grader.safe_text import for_terminal

__all__ = [
    "BatchOptions",
    "Summary",
    "run_batch",
    "suite_digest",
]

#: Default wall-clock budget of one submission (Gradescope's own default is 10 minutes).
DEFAULT_TIMEOUT: Final = 600.0
#: With --dask: how long a batch waits with no worker (or no scheduler) before it stops.
DEFAULT_DASK_WAIT: Final = 300.0


# -- digests ----------------------------------------------------------------------------------


def suite_digest(options: BatchOptions) -> str:
    """A hash of everything besides the submission that decides its grade: the grading suites,
    the reference solutions, and the grading options (``grader.grading.version``)."""
    return version.suite_digest(options.engine_options())


# -- options ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchOptions:
    jobs: int = max(1, os.cpu_count() or 1)
    suites: tuple[str, ...] = ("public", "hidden")
    only: str | None = None
    gpu_counts: bool = True
    timeout: float = DEFAULT_TIMEOUT  # wall seconds per submission
    recycle: int = DEFAULT_RECYCLE
    regrade: bool = False  # grade everything again, whatever the gradebook holds
    retry_errors: bool = False  # grade again what was recorded as timed out or grader error
    #: processes each grading shares its tests between (``grader.grading.shard``: the results are
    #: the
    #: same, so not part of ``suite_digest``); None: ``default_shards`` of ``jobs``
    shards: int | None = None
    #: grade again what another grader version graded (``grader regrade``); a batch always
    #: grades again what another suite graded
    upgrade: bool = False
    check_similarity: bool = (
        True  # compare the submissions' code at the end (grader.classroom.similarity)
    )
    #: with --dask: seconds with no worker connected (or no scheduler) before the batch stops
    dask_wait: float = DEFAULT_DASK_WAIT
    #: with --dask: accept a plain tcp:// scheduler beyond this machine (no TLS, no auth)
    dask_insecure: bool = False

    def __post_init__(self) -> None:
        # Checked here, not in each grading process: a typo must not cost a class of gradings.
        pack.active().check_only(self.only)

    def engine_options(self) -> dict[str, Any]:
        return version.engine_options(self.suites, self.only, self.gpu_counts)

    def grading_options(self) -> dict[str, Any]:
        """What each grading process is told: ``engine_options`` and the shards."""
        shards = self.shards if self.shards is not None else default_shards(self.jobs)
        return {**self.engine_options(), "shards": shards}


def default_shards(jobs: int) -> int:
    """Shards per grading when ``jobs`` gradings run at once: the cores left to each."""
    return max(1, min(cores.DEFAULT_MAX, cores.available_cpus() // max(1, jobs)))


# -- the batch ------------------------------------------------------------------------------------


@dataclass
class Summary:
    total: int = 0
    skipped: int = 0  # already in the gradebook
    counts: dict[str, int] = field(default_factory=dict)  # status -> submissions this run
    with_failures: int = 0  # graded, but some test failed
    wall: float = 0.0
    problems: list[tuple[str, str]] = field(default_factory=list)  # (id, status)
    regrade: Regrade | None = None  # what this run changed, and what it left to an older version

    @property
    def done(self) -> int:
        return sum(self.counts.values())


def run_batch(
    source: Path,
    out: Path,
    options: BatchOptions | None = None,
    dask: str | None = None,
    stream: TextIO | None = None,
) -> Summary:
    """Grade every submission of ``source`` not yet in ``out/gradebook.sqlite``.

    ``options``: default ``BatchOptions()``, made here: a default evaluated at import would read
    the active pack whenever this module is imported (a Dask worker unpickling a task did)."""
    options = BatchOptions() if options is None else options
    stream = stream if stream is not None else sys.stdout
    out.mkdir(parents=True, exist_ok=True)
    # Every student's results.json lands here: closed to the sandbox users (as root), like the
    # results directory of `grader grade` (docs/SECURITY.md).
    from grader.grading import engine

    engine.protect_trusted_files(out)
    with _exclusive(out / ".batch.lock"):
        for stale in (out / "results").glob(".results-*.json"):
            stale.unlink(missing_ok=True)  # a temp file of a write that a kill interrupted
        jobs = discover(source, out)
        current = Version(suite_digest(options), version.grader_version())
        with Gradebook(out / "gradebook.sqlite") as book:
            before = book.states()
            known = book.students()
            todo: list[tuple[Job, str]] = []
            for job in jobs:
                digest = content_digest(job.path)
                if not _needs_grading(before.get(job.id), digest, current, options):
                    # The same files, but a newer download may say other things of who sent
                    # them (an extension lifts LATE; Moodle reveals blind-marked names).
                    if known.get(job.id, ()) != tuple(job.students):
                        book.set_students(job.id, job.students)
                    continue
                todo.append((job, digest))
            todo = longest_first(todo, book.walls())
            summary = Summary(total=len(jobs), skipped=len(jobs) - len(todo))
            progress = Progress(summary, len(todo), stream)
            progress.start()
            start = time.monotonic()
            run = 0
            if todo:
                kind = "regrade" if options.upgrade else "batch"
                run = book.start_run(kind, current, options.engine_options())
            regraded: list[tuple[Record, Record]] = []  # (the row replaced, the new one)
            results = (
                _grade_dask(todo, options, dask, progress)
                if dask
                else _grade_local(todo, options, out)
            )
            for job, digest, graded in results:
                rec = _record(job, digest, current, graded, run)
                result = from_wire(graded.result)
                # The hidden part of results.json says what graded it, as the row does.
                stamped = {**result.extra_data, "version": rec.version.as_json()}
                result = dataclasses.replace(result, extra_data=stamped)
                gradescope_write(result, out / "results" / f"{job.id}.json")
                book.record(rec)  # the commit point: after this, a rerun skips it
                if rec.id in before:
                    replaced = book.history(rec.id)[-1]
                    if regrade.compare(replaced, rec) is not None:
                        regraded.append((replaced, rec))
                    else:  # only counted: a MOOC's unchanged rows are not kept in memory
                        regraded.append((_bare(replaced), _bare(rec)))
                summary.counts[rec.status] = summary.counts.get(rec.status, 0) + 1
                if rec.status == "graded" and rec.failed:
                    summary.with_failures += 1
                if rec.status != "graded":
                    summary.problems.append((rec.id, rec.status))
                progress.update(rec)
            summary.wall = time.monotonic() - start
            summary.regrade = regrade.summarize(regraded, book.versions(), current)
            if summary.regrade.graded_again or summary.regrade.resubmitted:
                regrade.write(summary.regrade, out)
            progress.finish()
        if options.check_similarity and (todo or not similarity.written(out)):
            found = similarity.check({job.id: job.path for job in jobs})
            similarity.write(found, out)
            progress.similar(found)
    return summary


def longest_first(todo: list[tuple[Job, str]], walls: dict[str, float]) -> list[tuple[Job, str]]:
    """``todo`` with the submissions the gradebook has timed before longest first, the others at
    the median of those (ties keep the id order).

    A batch's tail is the last submissions, running while the other slots have no work left:
    one that ran to its time limits, graded last, kept a core idle for most of its 28 s in a
    batch of 50 (docs/BATCH.md). A first batch has no times to go by; a regrade, a resubmission
    round or a batch resumed after a stop has the last run's.
    """
    known = [walls[job.id] for job, _ in todo if job.id in walls]
    if not known:
        return todo
    typical = statistics.median(known)
    return sorted(todo, key=lambda item: -walls.get(item[0].id, typical))


def _needs_grading(
    state: tuple[str, Version, str] | None, digest: str, current: Version, options: BatchOptions
) -> bool:
    if state is None or options.regrade:
        return True
    content, graded_by, status = state
    if (content, graded_by.suite_digest) != (digest, current.suite_digest):
        return True  # resubmitted, or the suites changed
    if options.retry_errors and status != "graded":
        return True
    return options.upgrade and graded_by.grader != current.grader


def _bare(rec: Record) -> Record:
    """``rec`` without its outcomes, for counting regrades that changed nothing."""
    return dataclasses.replace(rec, outcomes=())


def gradescope_write(result: GradingResult, path: Path) -> None:
    from grader.grading import results_json as gradescope

    gradescope.write(result, path)


def _record(job: Job, digest: str, current: Version, g: Graded, run: int) -> Record:
    result = from_wire(g.result)
    status: SubmissionStatus = "graded"
    if g.kind == "timeout":
        status = "timed out"
    elif result.grader_error is not None:
        status = "grader error"
    # What the grading process says graded it; the coordinator's own version where it said
    # nothing (a time-out, a crash). Both agree unless the workers run another installation.
    graded_by = Version.from_json(result.extra_data.get("version")) or current
    return Record(
        id=job.id,
        content_digest=digest,
        suite_digest=graded_by.suite_digest,
        grader_version=graded_by.grader,
        run=run,
        score=result.score,
        max_score=result.max_score,
        status=status,
        started=_iso(g.started),
        finished=_iso(g.finished),
        wall_seconds=round(g.finished - g.started, 3),
        students=job.students,
        error=result.grader_error or "",
        outcomes=tuple(
            Outcome(
                number=t.number,
                name=t.name,
                score=t.score,
                max_score=t.max_score,
                status=t.status,
                suite=t.suite,
                tags=t.tags,
                fingerprint=str(t.extra.get("fingerprint") or ""),
                duration=t.duration,
                slowest_call=t.slowest_call,
                peak_memory=t.peak_memory,
                cut_by=t.cut_by,
            )
            for t in result.tests
        ),
    )


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec="milliseconds")


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BatchError(
                f"another batch is writing to {lock.parent}; wait for it or use another --out"
            ) from None
        yield
    finally:
        os.close(fd)


Result = tuple[Job, str, Graded]


def _grade_local(
    todo: Sequence[tuple[Job, str]], options: BatchOptions, out: Path
) -> Iterator[Result]:
    """``options.jobs`` slots, each a thread driving one warm grading process."""
    if not todo:
        return
    jobs: queue.Queue[tuple[Job, str] | None] = queue.Queue()
    for item in todo:
        jobs.put(item)
    done: queue.Queue[Result | BaseException] = queue.Queue()
    slots = min(options.jobs, len(todo))
    for _ in range(slots):
        jobs.put(None)
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    engine_options = options.grading_options()
    # A slot out of submissions lends its core to the gradings still running (cores.Spare).
    spare = Spare.create() if slots > 1 else None

    def slot(index: int) -> None:
        with (logs / f"slot-{index}.log").open("ab") as log:
            proc = GraderProcess(log=log, recycle=options.recycle, spare=spare)
            try:
                while (item := jobs.get()) is not None:
                    job, digest = item
                    g = proc.grade(job.path, engine_options, options.timeout)
                    if g.kind == "crash":  # once more on a fresh process: it may be transient
                        g = proc.grade(job.path, engine_options, options.timeout)
                    done.put((job, digest, g))
            except BaseException as exc:  # a fault of ours: stop the batch, say why
                done.put(exc)
            finally:
                proc.close()
                if spare is not None:
                    spare.give()

    threads = [threading.Thread(target=slot, args=(i,), daemon=True) for i in range(slots)]
    for t in threads:
        t.start()
    finished = False
    try:
        for _ in range(len(todo)):
            got = done.get()
            if isinstance(got, BaseException):
                raise BatchError(f"a grading slot failed: {got}") from got
            yield got
        finished = True
    finally:
        while True:  # on an early exit, let the slots wind down
            try:
                jobs.get_nowait()
            except queue.Empty:
                break
        for _ in threads:
            jobs.put(None)
        if spare is not None and finished:
            # Closed once no slot can write to it (after an early exit it stays open: a slot
            # still grading would write a token into whatever took its number).
            for t in threads:
                t.join()
            os.close(spare.read)
            os.close(spare.write)


def _grade_dask(
    todo: Sequence[tuple[Job, str]], options: BatchOptions, address: str, progress: Progress
) -> Iterator[Result]:
    """The same work on a Dask cluster (``grader.classroom.cluster``); results come back here,
    the single writer."""
    try:
        from grader.classroom import cluster
    except ImportError as exc:
        raise BatchError(
            "--dask needs the distributed extra: pip install 'grader[distributed]'"
        ) from exc
    settings = cluster.Settings(
        options={**options.engine_options(), "shards": options.shards or 1},
        timeout=options.timeout,
        recycle=options.recycle,
        wait=options.dask_wait,
        insecure=options.dask_insecure,
    )
    tasks = [(job.id, job.path.resolve()) for job, _ in todo]
    try:
        for i, graded in cluster.grade(tasks, address, settings, progress.status):
            job, digest = todo[i]
            yield job, digest, graded
    except cluster.ClusterError as exc:
        raise BatchError(str(exc)) from None


# -- progress and summary ------------------------------------------------------------------------


class Progress:
    """A one-line bar with counts and ETA on a terminal; one plain line per submission otherwise."""

    def __init__(self, summary: Summary, todo: int, stream: TextIO) -> None:
        self.summary = summary
        self.todo = todo
        self.stream = stream
        self.tty = stream.isatty()
        self.start_time = time.monotonic()

    def start(self) -> None:
        s = self.summary
        self._print(
            f"{s.total} submissions: {s.skipped} already in the gradebook, {self.todo} to grade"
        )

    def update(self, rec: Record) -> None:
        s = self.summary
        done = s.done
        if not self.tty:
            self._print(
                f"[{done}/{self.todo}] {rec.id}: {rec.score:g}/{rec.max_score:g} {rec.status}"
                f" ({rec.wall_seconds:.1f} s)"
            )
            return
        elapsed = time.monotonic() - self.start_time
        eta = elapsed / done * (self.todo - done) if done else 0.0
        width = 24
        filled = int(width * done / max(self.todo, 1))
        bar = "#" * filled + "-" * (width - filled)
        errors = s.counts.get("grader error", 0)
        self.stream.write(
            f"\r[{bar}] {done}/{self.todo}  graded {s.counts.get('graded', 0)}"
            f" (with failures {s.with_failures})  timed out {s.counts.get('timed out', 0)}"
            f"  errors {errors}  ETA {_clock(eta)} "
        )
        self.stream.flush()

    def status(self, line: str) -> None:
        """The cluster's state (workers connected, what runs): on the bar's line on a terminal,
        a line of its own otherwise."""
        if self.tty:  # the line names submissions (student text): shown, never sent
            self.stream.write(f"\r{for_terminal(line)[:100]:<100}")
            self.stream.flush()
        else:
            self._print(line)

    def finish(self) -> None:
        if self.tty and self.todo:
            self.stream.write("\n")
        for line in summary_table(self.summary):
            self._print(line)
        if self.summary.regrade is not None:
            for line in regrade.lines(self.summary.regrade):
                self._print(line)

    def similar(self, found: similarity.Similarity) -> None:
        for line in similarity.lines(found):
            self._print(line)

    def _print(self, line: str) -> None:
        # Ids, names and regrade notes are student text: shown, never sent (issue 29).
        self.stream.write(for_terminal(line) + "\n")
        self.stream.flush()


def summary_table(s: Summary) -> list[str]:
    rows = [("submissions", str(s.total)), ("skipped (already graded)", str(s.skipped))]
    rows += [(status, str(s.counts.get(status, 0))) for status in gradebook.STATUSES]
    rows += [("graded with failed tests", str(s.with_failures))]
    rows += [("wall time", _clock(s.wall))]
    if s.done:
        rows += [("per submission", f"{s.wall / s.done:.2f} s")]
    width = max(len(k) for k, _ in rows)
    lines = ["", *(f"  {k:<{width}}  {v:>8}" for k, v in rows)]
    lines += [f"  {status}: {sid}" for sid, status in s.problems[:20]]
    if len(s.problems) > 20:
        lines.append(f"  ... and {len(s.problems) - 20} more (see `grader report`)")
    return lines


def _clock(seconds: float) -> str:
    m, sec = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{sec:02d}"
