"""One grading on several cores: the collected tests shared between forked grading processes.

A grading runs ~190 tests one after another, each in a fresh worker; the grader and the worker
take turns, so one grading keeps about one core busy. Once pytest has collected the suites (and
imported torch, Hypothesis and the suites, the floor every grading pays), ``run`` forks the
grading process ``shards - 1`` times. Every process then takes the next unit of tests from a
shared queue (a pipe of unit numbers: each read takes one), runs it with pytest's own
``pytest_runtest_protocol`` and the grading plugin, and the forked ones send each outcome back
over a pipe. The grading's own process merges the outcomes in the collected order, so the
results are those of a serial run (docs/ARCHITECTURE.md, "One grading on several cores").

What keeps them equal:

* *Nothing a test sees depends on which tests ran before it in the same process.* Each test has
  a fresh worker; Hypothesis is derandomized per test; before the fork everything that the first
  test would set up once is done (the canary, both zygotes' hellos, the reference, the modules
  whose constants Hypothesis reads from ``sys.modules``), in the serial run as well.
* *The timeout budget* (``Sandbox.timeout_for``) is the one state carried from test to test: a
  test's limit depends on the timeouts of the tests before it in the serial order. A test's
  outcome is kept when no earlier test (in that order) timed out and its own process had no
  timeout before it; the others are run again afterwards, by this process, in the serial order,
  with the budget the serial run would have had. A process stops taking tests that come after
  a timeout another one has seen (a shared page says where), so little is run twice. Without a
  timeout (every ordinary submission) nothing is.
* *The sandbox is shared, not copied:* each forked process gets its own control channel to each
  zygote (``Sandbox.attach``), whose workers are locked down exactly as the grading's own; the
  canary ran once before the fork. Only the grading's own process closes the sandbox, after
  the others have exited, and checks that nothing of the submission survived.

The forked processes are trusted like the one they were forked from (same user, not dumpable,
killed with it), and hold the same tests and reference; no student code runs in them.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import json
import math
import mmap
import os
import signal
import struct
import sys
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from grader.grading.results import TestOutcome
    from grader.grading.session import GradingSession

#: At most this many processes by default: one per core, and memory stays in Gradescope's 768 MB.
DEFAULT_MAX = 2
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE = 1, 4
_F_SETPIPE_SZ = 1031
_UNIT = struct.Struct("=i")

Budget = tuple[dict[str, int], float]


def available_cpus() -> int:
    """The cores this process may use: its CPU affinity, bounded by the CPU quota of its cgroup
    and of the cgroups above it (a container's ``--cpus``, Gradescope's ½ vCPU, the simulator's
    quota: 1 there)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    return max(1, cores)


CGROUP = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def _cgroup_quota() -> float | None:
    """The smallest CPU quota (in CPUs) on the way from our cgroup to the root, or None."""
    try:
        lines = PROC_CGROUP.read_text().splitlines()
    except OSError:
        return None
    found: list[float] = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        files: tuple[str, ...]
        if controllers == "":  # v2: cpu.max ("max 100000" or "50000 100000")
            base, files = CGROUP, ("cpu.max",)
        elif "cpu" in controllers.split(","):  # v1
            base, files = CGROUP / "cpu", ("cpu.cfs_quota_us", "cpu.cfs_period_us")
            if not base.is_dir():
                base = CGROUP / controllers
        else:
            continue
        folder = base / path.lstrip("/")
        while True:
            with contextlib.suppress(OSError, ValueError, IndexError):
                if len(files) == 1:
                    quota, period = (folder / files[0]).read_text().split()[:2]
                    if quota != "max":
                        found.append(int(quota) / int(period))
                else:
                    quota, period = ((folder / f).read_text().strip() for f in files)
                    if int(quota) > 0:
                        found.append(int(quota) / int(period))
            if folder == base or base not in folder.parents:
                break
            folder = folder.parent
    return min(found) if found else None


def default_shards() -> int:
    return max(1, min(available_cpus(), DEFAULT_MAX))


def prepare(grading: GradingSession) -> None:
    """Before the first test, in every grading (sharded or not): what the first test would
    otherwise do once, so that nothing a test sees depends on whether it ran first."""
    from grader.grading import answers, reference, student  # noqa: F401  (modules Hypothesis scans)

    answers.for_suites()
    grading.sandbox.settle()


@dataclass
class _Record:
    """What one process learned of one test."""

    outcome: TestOutcome | None
    clean: bool  # its process had no timeout before it
    timed_out: bool  # it timed out a call
    budget: Budget  # the budget spent after it, in its process


@dataclass
class _Shared:
    """State shared by the processes of one sharded grading."""

    units: list[list[int]]
    queue: int  # read end of the pipe of unit numbers
    marks: mmap.mmap  # per process: the first test (index) that timed out there, or len(items)
    rank: int = 0
    size: int = 1
    n: int = 0
    records: dict[int, _Record] = field(default_factory=dict)

    def pull(self) -> list[int] | None:
        try:
            data = os.read(self.queue, _UNIT.size)
        except OSError:
            return None
        if len(data) < _UNIT.size:
            return None
        return self.units[_UNIT.unpack(data)[0]]

    def mark(self, index: int) -> None:
        at = self.rank * _UNIT.size
        if index < _UNIT.unpack_from(self.marks, at)[0]:
            _UNIT.pack_into(self.marks, at, index)

    def first_timeout(self) -> int:
        marks: list[int] = [
            _UNIT.unpack_from(self.marks, r * _UNIT.size)[0] for r in range(self.size)
        ]
        return min(marks)


def units_of(items: list[pytest.Item]) -> list[list[int]]:
    """The units of work, in the collected order: one per test.

    The torch module's tests were one unit, so that only one process paid the sympy import of
    the grader's first ``backward(g)`` or ``gradcheck``; ``grader.grading.shapes`` spares that
    import, and one test a unit keeps the two processes evenly loaded to the end (a grading
    of the reference: ~0.07 s sooner on 2 cores)."""
    return [[i] for i in range(len(items))]


def run(session: pytest.Session, grading: GradingSession, shards: int) -> bool | None:
    """Run the collected tests in ``shards`` processes; None: let pytest run them serially."""
    from grader.grading import answers

    items = session.items
    oracle = sys.modules.get("grader.grading.oracle")
    if (
        shards < 2
        or len(items) < 2
        or session.testsfailed
        or session.config.option.collectonly
        # What these count or record stays in the process that ran the test: the answers a
        # recording of the reference notes, those a student bundle's replay used, those
        # torch.optim computed while its store is rebuilt.
        or isinstance(answers.for_suites(), (answers.Recorder, answers.Replay))
        or (oracle is not None and oracle.recording)
    ):
        return None
    box = grading.sandbox
    if box.gate_error is not None or box.failed is not None:
        return None  # the first test stops the grading, as in a serial run
    units = units_of(items)
    shards = min(shards, len(units))
    queue_r, queue_w = os.pipe()
    marks = mmap.mmap(-1, _UNIT.size * shards)
    for r in range(shards):
        _UNIT.pack_into(marks, r * _UNIT.size, len(items))
    # Written whole before the fork (a few hundred bytes: within the pipe's buffer).
    os.write(queue_w, b"".join(_UNIT.pack(u) for u in range(len(units))))
    os.close(queue_w)
    shared = _Shared(units, queue_r, marks, size=shards, n=len(items))
    children: list[tuple[int, int]] = []  # (pid, read end of its results)
    threads = _one_torch_thread()
    try:
        for rank in range(1, shards):
            channels = box.attach()
            out_r, out_w = os.pipe()
            with contextlib.suppress(OSError):
                fcntl.fcntl(out_w, _F_SETPIPE_SZ, 1 << 20)
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the forked grading process
                os.close(out_r)
                for _, other in children:
                    os.close(other)
                _child(session, grading, shared, rank, channels, out_w)
            os.close(out_w)
            for channel in channels:
                channel.close()
            os.set_blocking(out_r, False)
            children.append((pid, out_r))
        readers = [_Reader(fd) for _, fd in children]

        def drain() -> None:
            for reader in readers:
                reader.read(shared.records, grading)

        _loop(session, grading, shared, between=drain)
        for (pid, _), reader in zip(children, readers, strict=True):
            os.set_blocking(reader.fd, True)
            reader.read(shared.records, grading)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    finally:
        for pid, fd in children:
            with contextlib.suppress(OSError):
                os.close(fd)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        os.close(queue_r)
        marks.close()
        if threads is not None:
            sys.modules["torch"].set_num_threads(threads)
    _merge(session, grading, shared)
    return True


def _one_torch_thread() -> int | None:
    """torch's own thread pool (OpenMP) hangs a forked child that uses it once the parent has
    started it; the grader's tensors are small enough that torch never splits their work, so
    one thread computes the same. Returns the count to restore, or None without torch."""
    torch: Any = sys.modules.get("torch")
    if torch is None:
        return None
    threads: int = torch.get_num_threads()
    torch.set_num_threads(1)
    return threads


def _loop(
    session: pytest.Session,
    grading: GradingSession,
    shared: _Shared,
    between: Callable[[], None] = lambda: None,
    on_record: Callable[[int, _Record], None] | None = None,
) -> None:
    """Take units from the queue and run their tests, until the queue is empty or the tests
    left come after a timeout (``first_timeout``)."""
    items = session.items
    box = grading.sandbox
    plan: deque[int] = deque()
    clean = True
    planned: pytest.Item | None = None  # the ``nextitem`` the last test was run with
    while True:
        if not plan:
            unit = shared.pull()
            if unit is None:
                break
            plan.extend(unit)
        i = plan.popleft()
        if i > shared.first_timeout():
            plan.clear()  # run again by the grading's own process, once it knows the budget
            continue
        if not plan:
            unit = shared.pull()
            if unit is not None:
                plan.extend(unit)
        nextitem = items[plan[0]] if plan else None
        if planned is not None and planned is not items[i]:
            session._setupstate.teardown_exact(items[i])
        before = box.budget()
        count = len(grading.outcomes)
        box.abandon = functools.partial(_after_a_timeout, shared, i)
        try:
            items[i].config.hook.pytest_runtest_protocol(item=items[i], nextitem=nextitem)
        finally:
            box.abandon = None
        planned = nextitem
        spent = box.budget()
        timed_out = sum(spent[0].values()) > sum(before[0].values())
        outcome = grading.outcomes[-1] if len(grading.outcomes) > count else None
        record = _Record(outcome, clean, timed_out, spent)
        shared.records[i] = record
        if on_record is not None:
            on_record(i, record)
        if timed_out:
            clean = False
            shared.mark(i)
        between()
        if session.shouldstop or session.shouldfail:
            break
    if planned is not None:
        # The last test was run with a next one that was not run here: tear down after it.
        session._setupstate.teardown_exact(None)


def _after_a_timeout(shared: _Shared, index: int) -> bool:
    """Whether a test before this one timed out (in any process): its outcome will not count."""
    return shared.first_timeout() < index


def _child(
    session: pytest.Session,
    grading: GradingSession,
    shared: _Shared,
    rank: int,
    channels: list[Any],
    out: int,
) -> None:  # pragma: no cover - runs in the forked grading process
    """A forked grading process: run units, send each outcome, exit without clean-up."""
    code = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
        if os.getppid() == 1:
            os._exit(1)
        grading.sandbox.join(channels)
        grading.progress = None
        shared.rank = rank
        with os.fdopen(out, "w", encoding="utf-8") as stream:

            def send(index: int, record: _Record) -> None:
                outcome = None if record.outcome is None else record.outcome.to_wire()
                line = {
                    "i": index,
                    "outcome": outcome,
                    "clean": record.clean,
                    "timed_out": record.timed_out,
                    "budget": [record.budget[0], record.budget[1]],
                }
                stream.write(json.dumps(line) + "\n")
                stream.flush()

            _loop(session, grading, shared, on_record=send)
            for worker in list(grading.sandbox._workers):
                worker.close()
        code = 0
    except BaseException:
        with contextlib.suppress(BaseException):
            sys.__stderr__.write(traceback.format_exc())  # type: ignore[union-attr]
    finally:
        os._exit(code)


class _Reader:
    """The grading's own process's end of a forked one's results (JSON lines)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""

    def read(self, records: dict[int, _Record], grading: GradingSession) -> None:
        """Read what is there (all of it, up to its end, when the descriptor blocks)."""
        from grader.grading.results import TestOutcome

        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                return
            *lines, self.buf = (self.buf + chunk).split(b"\n")
            for line in lines:
                data = json.loads(line)
                wire = data["outcome"]
                outcome = None if wire is None else TestOutcome.from_wire(wire)
                records[int(data["i"])] = _Record(
                    outcome,
                    bool(data["clean"]),
                    bool(data["timed_out"]),
                    (dict(data["budget"][0]), float(data["budget"][1])),
                )
                if grading.progress is not None and outcome is not None:
                    grading.progress(outcome, grading.total)


def _merge(session: pytest.Session, grading: GradingSession, shared: _Shared) -> None:
    """The outcomes in the collected order; tests whose outcome a serial run might not have
    given (see the module's docstring) run again here, in that order, with its budget."""
    records = shared.records
    first, again = to_run_again(records, shared.n)
    if again:
        box = grading.sandbox
        items = session.items
        progress, grading.progress = grading.progress, None  # they were counted once
        box.restore_budget(({}, 0.0))
        carried = first is None or first in again
        for k, i in enumerate(again):
            if not carried and i > first:  # type: ignore[operator]
                # What the serial run had spent by now: up to ``first`` as its process saw it
                # (nothing timed out before it), and what the runs again before it spent.
                box.restore_budget(_add(records[first].budget, box.budget()))  # type: ignore[index]
                carried = True
            count = len(grading.outcomes)
            nextitem = items[again[k + 1]] if k + 1 < len(again) else None
            items[i].config.hook.pytest_runtest_protocol(item=items[i], nextitem=nextitem)
            outcome = grading.outcomes[-1] if len(grading.outcomes) > count else None
            records[i] = _Record(outcome, True, False, box.budget())
            if session.shouldstop or session.shouldfail:
                break
        grading.progress = progress
    grading.outcomes[:] = [
        r.outcome for i in range(shared.n) if (r := records.get(i)) and r.outcome is not None
    ]


def to_run_again(records: dict[int, _Record], n: int) -> tuple[int | None, list[int]]:
    """The first test that timed out (or None), and the tests whose outcome a serial run might
    not have given: those after it, those run after a timeout in their own process (with a
    spent budget), and those no process reported."""
    timed = [i for i, r in records.items() if r.timed_out]
    first = min(timed) if timed else None
    valid = {i for i, r in records.items() if r.clean and (first is None or i <= first)}
    return first, [i for i in range(n) if i not in valid]


def _add(a: Budget, b: Budget) -> Budget:
    counts = dict(a[0])
    for name, n in b[0].items():
        counts[name] = counts.get(name, 0) + n
    return counts, a[1] + b[1]
