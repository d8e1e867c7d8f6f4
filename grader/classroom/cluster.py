"""``grader batch --dask``: the batch's gradings on a Dask cluster that shares nothing with us but
the grader installation.

The coordinator (``grader.classroom.batch``) stays the single writer of the gradebook; this module
hands it one ``Graded`` per submission, as ``_grade_local`` does.

* **Content, not paths** (``grader.classroom.shipping``): a task carries the submission as the
  safe intake read it here, and the pack's digest; the pack itself reaches every worker once,
  in a ``WorkerPlugin`` the scheduler gives each worker when it connects (those that join
  later too), and is unpacked into the worker's private cache inside the first task.
* **Nothing runs at unpickle time**: a task's arguments are ``dict``, ``str`` and ``float``; the
  task function and the plugin are found by name in this module, which runs nothing when
  imported. Setting up the pack happens in the task: a failure there is that submission's
  grader error with the reason (a broken manifest names its file and key), and the worker
  grades the next task.
* **Same installation**: the workers' grader, Python, NumPy and torch versions are checked when
  the batch connects (and by each task, for a worker that joins later); a mismatch stops the
  batch before that worker grades anything, naming the worker and the versions.
* **Never hangs**: with no worker for ``wait`` seconds, or the scheduler unreachable as long,
  or a worker or the scheduler silent as long when the batch starts (Dask's calls have no
  timeout of their own: ``_bounded``), the batch stops with what finished saved and says how
  to resume; a task past its deadline (the submission's time limit plus the grading process's
  start) is cancelled and recorded as timed out. The progress line says how many workers are
  connected and what runs.
"""

from __future__ import annotations

import collections
import contextlib
import importlib.metadata
import ipaddress
import platform
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from distributed import Client, get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from grader.classroom import shipping
from grader.classroom.process import START_TIMEOUT, Graded, GraderProcess, to_wire
from grader.grading.results import GradingResult

__all__ = [
    "ClusterError",
    "PackPlugin",
    "Settings",
    "check_address",
    "grade",
    "grade_task",
    "versions",
]

#: How long a batch waits with no worker connected (or the scheduler unreachable) before it
#: stops; ``grader batch --dask-wait`` sets it.
DEFAULT_WAIT: Final = 300.0
#: How often the coordinator looks at the cluster while it waits for results.
POLL: Final = 1.0
#: Tasks submitted ahead per worker thread: enough to keep each busy, few enough that a course
#: of 10,000 is not held in the scheduler's memory at once.
AHEAD: Final = 4
#: A started task with no answer this long past the submission's time limit is cancelled and
#: recorded as timed out (its worker is hung): the grading process's start, and a margin.
GRACE: Final = START_TIMEOUT + 60.0
#: The event topic a task announces its start on (the progress line and the deadlines read it).
TOPIC: Final = "grader-task-started"
#: What a worker of another installation is told to match (the keys of ``versions``).
_WHAT: Final = ("grader", "python", "numpy", "torch")


class ClusterError(Exception):
    """The batch cannot go on on this cluster; the message says what happened and what to do."""


@dataclass(frozen=True)
class Settings:
    """What every task of a batch is told, as plain data (``dict``, ``float``, ``int``)."""

    options: dict[str, Any]  # the grading process's options (engine options and shards)
    timeout: float  # wall seconds per submission
    recycle: int  # submissions per grading process
    wait: float = DEFAULT_WAIT  # seconds without a worker or a scheduler before stopping
    insecure: bool = False  # a plain tcp:// scheduler beyond this machine is accepted


def versions() -> dict[str, str]:
    """This installation: what must be the same on the coordinator and every worker."""
    from grader.grading.version import grader_version

    def dist(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return {
        "grader": grader_version(),
        "python": platform.python_version(),
        "numpy": dist("numpy"),
        "torch": dist("torch"),
    }


def mismatch(worker: str, theirs: dict[str, str], ours: dict[str, str]) -> str | None:
    """The sentence refusing ``worker``, or None when it runs what we run."""
    diff = [f"{k} {theirs.get(k, '?')} (here {ours[k]})" for k in _WHAT if theirs.get(k) != ours[k]]
    if not diff:
        return None
    return (
        f"the Dask worker {worker} runs another installation than this coordinator: "
        f"{', '.join(diff)}. Results carry the grader version and the suite digest, so every "
        "worker must run the same grader, Python, NumPy and torch: install the same there, "
        "or stop that worker, then run the same command again"
    )


# -- on the worker --------------------------------------------------------------------------------

#: The packs this worker process received (digest -> archive), from ``PackPlugin``.
_PACKS: dict[str, bytes] = {}
#: The warm grading process of this worker process, and the pack folder it grades with.
_PROC: GraderProcess | None = None
_LOCK = threading.Lock()


class PackPlugin(WorkerPlugin):
    """Hands a worker the pack archive (once per worker; the scheduler keeps it for workers that
    connect later). ``setup`` only keeps the bytes: unpacking is the task's, where a failure is
    recorded."""

    #: registered again by a later batch of the same pack (same name: same digest), the
    #: scheduler keeps the copy it has instead of sending the archive to every worker again
    idempotent = True

    def __init__(self, digest: str, data: bytes) -> None:
        self.digest = digest
        self.data = data

    def setup(self, worker: Any) -> None:
        _PACKS[self.digest] = self.data


def grade_task(
    submission: dict[str, Any], digest: str, settings: dict[str, Any], expected: dict[str, str]
) -> dict[str, Any]:
    """The Dask task: grade ``submission`` (content, ``shipping.submission_wire``) with the pack
    ``digest`` on this worker's warm grading process. Returns ``Graded``'s fields as plain data,
    or ``{"refused": sentence}`` when this worker runs another installation."""
    worker = get_worker()
    refused = mismatch(worker.address, versions(), expected)
    if refused is not None:
        return {"refused": refused}
    started = time.time()
    try:
        folder = _pack_folder(digest)
    except Exception as exc:  # the manifest's, the disk's: this task's error
        why = f"the pack could not be set up on the Dask worker {worker.address}: {exc}"
        return _failed(why, started)
    global _PROC
    with _LOCK:  # one grading at a time per worker process (pytest in-process)
        # the start the deadline runs from: now, not while this task waited for the lock behind
        # another thread's grading (a worker of several threads)
        with contextlib.suppress(Exception):
            key = str(worker.get_current_task())
            worker.log_event(TOPIC, {"key": key, "worker": worker.address, "at": time.time()})
        if _PROC is not None and _PROC.assignment != str(folder):
            _PROC.close()
            _PROC = None
        if _PROC is None:
            _PROC = GraderProcess(recycle=int(settings["recycle"]), assignment=str(folder))
        try:
            g = _PROC.grade(submission, settings["options"], float(settings["timeout"]))
        except Exception as exc:  # the grading process did not start
            _PROC.close()
            return _failed(f"on the Dask worker {worker.address}: {exc}", started)
    return {"kind": g.kind, "result": g.result, "started": g.started, "finished": g.finished}


def _pack_folder(digest: str) -> Path:
    deadline = time.monotonic() + 30.0
    while digest not in _PACKS:  # the plugin comes before any task; this is a safety margin
        if time.monotonic() > deadline:
            raise shipping.PackError(f"the pack {digest[:12]} never reached this worker")
        time.sleep(0.1)
    return shipping.unpack(digest, _PACKS[digest])


def _failed(why: str, started: float) -> dict[str, Any]:
    now = time.time()
    result = GradingResult(tests=(), grader_error=why, execution_time=now - started)
    return {"kind": "crash", "result": to_wire(result), "started": started, "finished": now}


# -- on the coordinator ---------------------------------------------------------------------------


def grade(
    tasks: Sequence[tuple[str, Path]],
    address: str,
    settings: Settings,
    say: Callable[[str], None],
) -> Iterator[tuple[int, Graded]]:
    """Grade ``tasks`` (a submission's id and its path each) on the scheduler at ``address``;
    yields ``(index in tasks, Graded)`` as each finishes. ``say`` gets the cluster's state
    (workers connected, what runs) whenever it changes. Raises ``ClusterError`` to stop."""
    if not tasks:
        return
    check_address(address, settings.insecure)
    try:
        archive = shipping.PackArchive.build()
    except shipping.PackError as exc:
        raise ClusterError(str(exc)) from None
    ours = versions()
    try:
        client: Any = Client(address, timeout=settings.wait, set_as_default=False)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"could not reach the Dask scheduler at {address} within {settings.wait:g} s ({exc})"
        ) from None
    try:
        yield from _run(client, tasks, archive, ours, settings, say)
    finally:
        with contextlib.suppress(Exception):
            client.close(timeout=10)


def check_address(address: str, insecure: bool) -> None:
    """Refuse a scheduler reached in clear text from beyond this machine: anyone who reaches a
    plain ``tcp://`` scheduler runs code on its workers and can send back forged results, which
    this coordinator unpickles. ``tls://`` (with ``distributed.Security`` from Dask's config)
    and a loopback address (an SSH tunnel) pass; ``insecure`` (``--dask-insecure``) lets any
    through."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, where = parse_address(address)
        host = str(parse_host_port(where, 8786)[0])
    except Exception as exc:
        raise ClusterError(f"--dask {address}: not a Dask scheduler address ({exc})") from None
    if insecure or scheme not in ("tcp", "ws"):
        return
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host.strip("[]")).is_loopback:
            return
    if host == "localhost":
        return
    raise ClusterError(
        f"--dask {address}: a {scheme}:// scheduler beyond this machine has no encryption and "
        "no authentication: anyone who reaches it runs code on its workers and can send this "
        "coordinator forged results. Use tls:// with certificates in Dask's configuration, or "
        "reach the scheduler through an SSH tunnel on a loopback address "
        "(tcp://127.0.0.1:PORT), or pass --dask-insecure on a network only you can reach "
        '(docs/BATCH.md, "Dask")'
    )


def _run(
    client: Any,
    tasks: Sequence[tuple[str, Path]],
    archive: shipping.PackArchive,
    ours: dict[str, str],
    settings: Settings,
    say: Callable[[str], None],
) -> Iterator[tuple[int, Graded]]:
    _refuse_others(client, ours, settings.wait)
    name = f"grader-pack-{archive.digest[:16]}"
    plugin = PackPlugin(archive.digest, archive.data)
    _bounded(
        lambda: client.register_plugin(plugin, name=name),
        settings.wait,
        "the Dask scheduler (given the pack for its workers)",
    )
    # Keys of this run only: another batch on the same scheduler (another course, --only, other
    # options) grading a submission of the same id and content must not share its task.
    keys = _keys(tasks)
    key_of = {i: key for key, i in keys.items()}
    running: dict[str, tuple[str, float]] = {}  # key -> (worker, our monotonic clock at start)
    # Start events arrive on the client's own thread: they reach this loop through a queue, and
    # only this loop reads or changes ``running`` (the handler changing it while the loop
    # iterated it stopped the batch: "dictionary changed size during iteration").
    events: queue.SimpleQueue[tuple[str, str, float]] = queue.SimpleQueue()

    def started(event: tuple[float, dict[str, Any]]) -> None:
        msg = event[1]
        if str(msg.get("key")) in keys:  # not another batch's task
            # stamped with our clock as it arrives: the worker's clock may be off by minutes
            events.put((str(msg["key"]), str(msg.get("worker", "")), time.monotonic()))

    client.subscribe_topic(TOPIC, started)
    plain = {"options": settings.options, "timeout": settings.timeout, "recycle": settings.recycle}
    deadline = settings.timeout + GRACE  # the worker's own limit, and a margin
    pending: dict[Any, int] = {}  # Future -> index in tasks
    news = threading.Event()  # set when a future is done
    queued = collections.deque(range(len(tasks)))  # not yet submitted (or to submit again)
    left = len(tasks)
    alone_since: float | None = None
    last = ""
    try:
        while left:
            connected = _workers(client, settings, alone_since)
            workers = len(connected)
            alone_since = None if workers else alone_since or time.monotonic()
            while queued and len(pending) < max(1, workers) * AHEAD:
                i = queued.popleft()
                path = tasks[i][1]
                fut = client.submit(
                    grade_task,
                    shipping.submission_wire(path),
                    archive.digest,
                    plain,
                    ours,
                    key=key_of[i],
                    pure=False,
                    retries=1,
                )
                fut.add_done_callback(lambda _: news.set())
                pending[fut] = i
            news.wait(POLL)
            news.clear()
            _drain(events, {f.key for f in pending}, running)
            # a task whose worker left is retried elsewhere: its deadline runs from that start
            for key in [k for k, (w, _) in running.items() if w not in connected]:
                del running[key]
            for fut in [f for f in pending if f.done()]:
                i = pending.pop(fut)
                running.pop(fut.key, None)
                if fut.status == "cancelled":  # not by us: the scheduler went away (or forgot it)
                    queued.appendleft(i)  # graded when it is back; else _workers stops the batch
                    continue
                left -= 1
                yield i, _outcome(fut)
            now = time.monotonic()
            for fut in [f for f in pending if f.key in running]:
                if now - running[fut.key][1] > deadline:
                    i = pending.pop(fut)
                    fut.cancel()
                    running.pop(fut.key, None)
                    left -= 1
                    yield i, _overdue(deadline, time.time())
            ids = [tasks[keys[k]][0] for k in running if k in keys]
            state = _state(workers, ids, settings, alone_since)
            if state != last:
                say(state)
                last = state
    finally:
        with contextlib.suppress(Exception):
            client.unsubscribe_topic(TOPIC)
        if pending:
            with contextlib.suppress(Exception):
                client.cancel(list(pending))


def _drain(
    events: queue.SimpleQueue[tuple[str, str, float]],
    pending: set[str],
    running: dict[str, tuple[str, float]],
) -> None:
    """Move the start events received so far into ``running`` (those of pending tasks only: a
    late event of a task already done is not a task running)."""
    while True:
        try:
            key, worker, at = events.get_nowait()
        except queue.Empty:
            return
        if key in pending:
            running[key] = (worker, at)


def _keys(tasks: Sequence[tuple[str, Path]]) -> dict[str, int]:
    """A Dask key for each task, unique to this run (key -> index in tasks)."""
    run = uuid.uuid4().hex[:16]
    return {f"grade-{sid}-{run}-{i}": i for i, (sid, _) in enumerate(tasks)}


def _refuse_others(client: Any, ours: dict[str, str], wait: float) -> None:
    """Stop before any grading if a connected worker runs another installation (or does not
    answer within ``wait`` seconds: a frozen worker must not hold the batch)."""
    workers = sorted(_bounded(lambda: dict(client.nthreads()), wait, "the Dask scheduler"))
    answers: dict[str, Any] = {}

    def ask(worker: str) -> None:
        try:
            got = client.run(versions, workers=[worker], on_error="return")
            answers[worker] = got.get(worker, RuntimeError("no answer"))
        except Exception as exc:
            answers[worker] = exc

    threads = [threading.Thread(target=ask, args=(w,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    deadline = time.monotonic() + wait
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    silent = [w for w in workers if w not in answers]
    if silent:
        raise ClusterError(
            f"the Dask worker{'s' * (len(silent) != 1)} {', '.join(silent)} did not answer "
            f"within {wait:g} s when asked for their versions (frozen or overloaded): restart "
            "or stop them, then run the same command again"
        )
    refused = []
    for w, v in sorted(answers.items()):
        if isinstance(v, BaseException):  # a worker that cannot even run this
            refused.append(
                f"the Dask worker {w} could not run the grader's version check "
                f"({type(v).__name__}: {v}); is the grader installed there?"
            )
        elif (m := mismatch(w, v, ours)) is not None:
            refused.append(m)
    if refused:
        raise ClusterError("\n".join(refused))


def _bounded(call: Callable[[], Any], wait: float, who: str) -> Any:
    """``call()`` (a blocking Dask call with no timeout of its own), or ``ClusterError`` naming
    ``who`` when it has not answered within ``wait`` seconds."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)  # left behind if hung; the client closes
    t.start()
    t.join(wait)
    if t.is_alive():
        raise ClusterError(
            f"{who} did not answer within {wait:g} s, so the batch stopped. Every submission "
            "graded so far is saved in the gradebook; check the scheduler and its workers and "
            "run the same command again"
        )
    if "error" in box:
        raise box["error"]
    return box["value"]


def _workers(client: Any, settings: Settings, alone_since: float | None) -> dict[str, int]:
    """The workers connected now (address -> threads); ``ClusterError`` once there were none
    (or no scheduler) for ``settings.wait`` seconds."""
    count = -1
    connected: dict[str, int] = {}
    if client.status == "running":
        with contextlib.suppress(Exception):  # ClusterError included: a hung scheduler
            connected = dict(_bounded(client.nthreads, settings.wait, "the Dask scheduler"))
            count = len(connected)
    if count > 0:
        return connected
    if client.status == "closed" or (
        alone_since is not None and time.monotonic() - alone_since > settings.wait
    ):
        what = (
            "no Dask worker was connected"
            if count == 0
            else "the Dask scheduler could not be reached"
        )
        raise ClusterError(
            f"{what} for {settings.wait:g} s, so the batch stopped. Every submission graded so "
            "far is saved in the gradebook; start workers (or the scheduler) and run the same "
            "command again: it grades only what is missing"
        )
    return {}


def _state(workers: int, running: list[str], settings: Settings, alone: float | None) -> str:
    """The progress line; ``running``: the ids of the submissions being graded."""
    if workers <= 0:
        return f"dask: no worker connected; waiting up to {settings.wait:g} s for one"
    names = ", ".join(sorted(running)[:4])
    more = f" and {len(running) - 4} more" if len(running) > 4 else ""
    return f"dask: {workers} worker{'s' * (workers != 1)} connected; grading {names or '-'}{more}"


def _outcome(fut: Any) -> Graded:
    try:
        data = fut.result()
    except Exception as exc:  # e.g. KilledWorker after repeated worker deaths
        now = time.time()
        why = f"the Dask task failed: {type(exc).__name__}: {exc}"
        return Graded("crash", to_wire(GradingResult(tests=(), grader_error=why)), now, now)
    if "refused" in data:
        raise ClusterError(str(data["refused"]))
    return Graded(**data)


def _overdue(deadline: float, now: float) -> Graded:
    why = (
        f"the Dask task ran past its deadline of {deadline:g} s (the submission's limit and the "
        "grading process's start) without an answer from its worker, and was cancelled"
    )
    result = GradingResult(tests=(), grader_error=why, execution_time=deadline)
    return Graded("timeout", to_wire(result), now - deadline, now)
