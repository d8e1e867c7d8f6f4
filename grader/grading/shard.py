"""One grading on several cores: the collected tests shared between forked grading processes.

A grading runs ~190 tests one after another, each in a fresh worker; the grader and the worker
take turns, so one grading keeps about one core busy. Once pytest has collected the suites (and
imported torch, Hypothesis and the suites, the floor every grading pays), ``run`` forks the
grading process ``shards - 1`` times. Every process then takes the next unit of tests from a
shared queue (a pipe of unit numbers: each read takes one), runs it with pytest's own
``pytest_runtest_protocol`` and the grading plugin, and the forked ones send each outcome back
over a pipe. The grading's own process merges the outcomes in the collected order, so the
results are those of a serial run (docs/ARCHITECTURE.md, "One grading on several cores").
In a batch, each grading also forks a helper that sleeps until another job slot, out of
submissions, lends its core (``cores.Spare``), and then takes tests from the same queue.

What keeps them equal:

* *Nothing a test sees depends on which tests ran before it in the same process.* Each test has
  a fresh worker; Hypothesis is derandomized per test; before the fork everything that the first
  test would set up once is done (the canary, both zygotes' hellos, the reference, the modules
  whose constants Hypothesis reads from ``sys.modules``), in the serial run as well.
* *The timeout budget* (``Limits.timeout_for``) is the one state carried from test to test: a
  call's limit depends on the timeouts of the tests before it in the serial order. Each test
  notes its calls (``Sandbox.watch``, ``timeouts.Watch``): the limit of each timeout, and between
  timeouts each name's longest call. The merge replays the serial order's budget over these
  notes: a test's outcome stands when every timeout of it had the limit the serial run would
  have given and every other call finished within that limit (``replay``); the serial run would
  have seen the same thing. A test that fails the check runs again in the grading's own
  process, in its place in the order, with the serial budget. To make most outcomes stand, each
  process starts each test with the timeouts every process has seen so far (a shared page,
  ``timeouts.Seen``; a call another process has waited on for the short limit counts as one):
  after the second timeout of a looping function anywhere, its other calls get the short limit
  everywhere, as in the serial run. Without a timeout (every ordinary
  submission) the notes only show calls far within their limits, and nothing runs twice.
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
import json
import os
import select
import signal
import struct
import sys
import termios
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from grader.authoring import pack
from grader.grading.cores import DEFAULT_MAX, Spare, available_cpus
from grader.grading.timeouts import Budget, CallLog, Seen, Watch, replay

if TYPE_CHECKING:
    from grader.grading.results import TestOutcome
    from grader.grading.session import GradingSession

_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE = 1, 4
_F_SETPIPE_SZ = 1031
_UNIT = struct.Struct("=i")


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
    log: CallLog


@dataclass
class _Shared:
    """State shared by the processes of one sharded grading."""

    units: list[list[int]]
    queue: int  # read end of the pipe of unit numbers
    seen: Seen  # the timeouts each process has seen (grader.grading.timeouts)
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


def units_of(items: list[pytest.Item]) -> list[list[int]]:
    """The units of work, in the collected order: one per test.

    The torch module's tests were one unit, so that only one process paid the sympy import of
    the grader's first ``backward(g)`` or ``gradcheck``; ``grader.grading.shapes`` spares that
    import, and one test a unit keeps the two processes evenly loaded to the end (a grading
    of the reference: ~0.07 s sooner on 2 cores)."""
    return [[i] for i in range(len(items))]


def run(
    session: pytest.Session, grading: GradingSession, shards: int, spare: Spare | None = None
) -> bool | None:
    """Run the collected tests in ``shards`` processes, and in up to ``DEFAULT_MAX`` once
    ``spare`` lends cores; None: let pytest run them serially."""
    from grader.grading import answers

    items = session.items
    oracle = sys.modules.get("grader.grading.oracle")
    if (
        (shards < 2 and spare is None)
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
    shards = max(1, min(shards, len(units)))
    most = max(shards, min(DEFAULT_MAX, available_cpus(), len(units))) if spare else shards
    if most < 2:
        return None
    queue_r, queue_w = os.pipe()
    seen = Seen.create(tuple(sorted(pack.active().module_of)), most)
    # Written whole before the fork (a few hundred bytes: within the pipe's buffer).
    os.write(queue_w, b"".join(_UNIT.pack(u) for u in range(len(units))))
    os.close(queue_w)
    shared = _Shared(units, queue_r, seen, n=len(items))
    children: list[tuple[int, _Reader]] = []
    threads = _one_torch_thread()
    # The helpers a batch may lend cores to are forked now, with the others, and wait: forked
    # later, in the middle of a test or of a 10 s call that loops, they would inherit its
    # fixtures and its worker; and they could not help with a long call in progress. Until a
    # core is lent (a token) or this process has run out of tests (``idle`` closes), a helper
    # sleeps; it costs this process a copy of the pages it writes meanwhile.
    idle_r, idle_w = os.pipe() if most > shards else (-1, -1)

    def fork(rank: int, token: Spare | None) -> None:
        channels = box.attach()
        out_r, out_w = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(out_w, _F_SETPIPE_SZ, 1 << 20)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the forked grading process
            os.close(out_r)
            for fd in [other.fd for _, other in children] + [idle_w]:
                with contextlib.suppress(OSError):
                    os.close(fd)
            _child(session, grading, shared, rank, channels, out_w, token, idle_r)
        os.close(out_w)
        for channel in channels:
            channel.close()
        os.set_blocking(out_r, False)
        children.append((pid, _Reader(out_r)))

    def drain() -> None:
        for _, reader in children:
            reader.read(shared.records, grading)

    try:
        for rank in range(1, most):
            fork(rank, spare if rank >= shards else None)
        _loop(session, grading, shared, between=drain)
        if idle_w >= 0:
            os.close(idle_w)  # a helper still waiting for a core exits
            idle_w = -1
        for pid, reader in children:
            os.set_blocking(reader.fd, True)
            reader.read(shared.records, grading)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    finally:
        for fd in (idle_r, idle_w):
            if fd >= 0:
                os.close(fd)
        for pid, reader in children:
            with contextlib.suppress(OSError):
                os.close(reader.fd)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        os.close(queue_r)
        seen.close()
        if threads is not None:
            sys.modules["torch"].set_num_threads(threads)
    _merge(session, grading, shared)
    return True


def _waiting(fd: int) -> int:
    """Bytes waiting in a pipe."""
    buf = bytearray(4)
    try:
        fcntl.ioctl(fd, termios.FIONREAD, buf)
    except OSError:
        return 0
    return int.from_bytes(buf, sys.byteorder)


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
    """Take units from the queue and run their tests, each with the timeouts seen so far
    (``timeouts.Seen``), noting its calls; until the queue is empty."""
    items = session.items
    box = grading.sandbox
    plan: deque[int] = deque()
    planned: pytest.Item | None = None  # the ``nextitem`` the last test was run with
    while True:
        if not plan:
            unit = shared.pull()
            if unit is None:
                break
            plan.extend(unit)
        i = plan.popleft()
        if not plan:
            unit = shared.pull()
            if unit is not None:
                plan.extend(unit)
        nextitem = items[plan[0]] if plan else None
        if planned is not None and planned is not items[i]:
            session._setupstate.teardown_exact(items[i])
        box.restore_budget(shared.seen.spent(presume_after=box.limits.short_timeout))
        before = box.budget()
        count = len(grading.outcomes)
        box.watch = watch = Watch(shared.seen)
        try:
            items[i].config.hook.pytest_runtest_protocol(item=items[i], nextitem=nextitem)
        finally:
            box.watch = None
        planned = nextitem
        shared.seen.add(before, box.budget())
        outcome = grading.outcomes[-1] if len(grading.outcomes) > count else None
        record = _Record(outcome, watch.log)
        shared.records[i] = record
        if on_record is not None:
            on_record(i, record)
        between()
        if session.shouldstop or session.shouldfail:
            break
    if planned is not None:
        # The last test was run with a next one that was not run here: tear down after it.
        session._setupstate.teardown_exact(None)


def _child(
    session: pytest.Session,
    grading: GradingSession,
    shared: _Shared,
    rank: int,
    channels: list[Any],
    out: int,
    token: Spare | None = None,
    idle: int = -1,
) -> None:  # pragma: no cover - runs in the forked grading process
    """A forked grading process: run units, send each outcome, exit without clean-up. A
    helper (``token``) first waits for a core to be lent, and gives it back once the tests run
    out; it exits at once if the grading's own process runs out of tests first (``idle``)."""
    code = 1
    lent = False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
        if os.getppid() == 1:
            os._exit(1)
        grading.sandbox.join(channels)
        grading.progress = None
        shared.seen.rank = rank
        if token is not None:
            lent = _wait_for_a_core(token, idle, shared.queue)
            if not lent:
                code = 0
                return
        with os.fdopen(out, "w", encoding="utf-8") as stream:

            def send(index: int, record: _Record) -> None:
                outcome = None if record.outcome is None else record.outcome.to_wire()
                line = {"i": index, "outcome": outcome, "log": record.log}
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
        if lent and token is not None:
            token.give()
        os._exit(code)


def _wait_for_a_core(token: Spare, idle: int, queue: int) -> bool:  # pragma: no cover - child
    """In a helper: wait until a core is lent (True: the token is taken) or the grading's own
    process has run out of tests (False). A core lent when two tests or fewer are left goes
    back: the grading's own process will be done before a helper could be."""
    while True:
        ready, _, _ = select.select([token.read, idle], [], [])
        if idle in ready:
            return False
        if token.take():  # another grading's helper may have been quicker
            if _waiting(queue) > 2 * _UNIT.size:
                return True
            token.give()
            return False


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
                records[int(data["i"])] = _Record(outcome, list(data["log"]))
                if grading.progress is not None and outcome is not None:
                    grading.progress(outcome, grading.total)


def _merge(session: pytest.Session, grading: GradingSession, shared: _Shared) -> list[int]:
    """The outcomes in the collected order. The serial run's budget is replayed over the tests'
    notes (``replay``); a test whose outcome that run might not have given (or that no process
    reported) runs again here, in its place, with that budget. Returns the tests run again."""
    records = shared.records
    box = grading.sandbox
    items = session.items
    progress = grading.progress
    budget: Budget = ({}, 0.0)
    planned: pytest.Item | None = None
    again: list[int] = []
    for i in range(shared.n):
        record = records.get(i)
        after = None if record is None else replay(record.log, budget, box.limits)
        if after is not None:
            budget = after
            continue
        again.append(i)
        grading.progress = None  # it was counted once
        if planned is not None and planned is not items[i]:
            session._setupstate.teardown_exact(items[i])
        box.restore_budget(budget)
        count = len(grading.outcomes)
        planned = items[i + 1] if i + 1 < shared.n else None
        items[i].config.hook.pytest_runtest_protocol(item=items[i], nextitem=planned)
        outcome = grading.outcomes[-1] if len(grading.outcomes) > count else None
        records[i] = _Record(outcome, [])
        budget = box.budget()
        if session.shouldstop or session.shouldfail:
            break
    if planned is not None:
        session._setupstate.teardown_exact(None)
    grading.progress = progress
    grading.outcomes[:] = [
        r.outcome for i in range(shared.n) if (r := records.get(i)) and r.outcome is not None
    ]
    return again
