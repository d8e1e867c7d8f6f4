"""The coordinator's loop of ``grader batch --dask`` (grader.classroom.cluster) against a fake
Dask client: what it submits, how it reads the workers' start events, when it cancels. No
scheduler, no worker (tests/toolkit/test_cluster.py runs a real cluster)."""

from __future__ import annotations

import io
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed")

from grader.classroom import batch, cluster, shipping
from grader.classroom.process import Graded

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ANSWER = {"kind": "ok", "result": {}, "started": 0.0, "finished": 0.0}


class Future:
    """Done after ``polls`` looks at it (``done()``), with ``ANSWER``."""

    def __init__(self, key: str, polls: int) -> None:
        self.key = key
        self.polls = polls
        self.status = "pending"
        self.callbacks: list[Callable[[Any], None]] = []

    def done(self) -> bool:
        if self.status == "pending":
            self.polls -= 1
            if self.polls <= 0:
                self.status = "finished"
        return self.status != "pending"

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        self.callbacks.append(fn)

    def cancel(self) -> None:
        self.status = "cancelled"

    def result(self) -> dict[str, Any]:
        return ANSWER


class FakeClient:
    """Two single-threaded workers; each submitted task announces its start on ``worker``
    (at the worker's clock, ``skew`` ahead of ours) and answers after ``polls`` looks."""

    def __init__(self, polls: int = 3, worker: str = "tcp://w1", skew: float = 0.0) -> None:
        self.status = "running"
        self.polls = polls
        self.worker = worker
        self.skew = skew  # the worker's clock, ahead of ours
        self.workers = {"tcp://w1": 1, "tcp://w2": 1}
        self.handler: Callable[[tuple[float, dict[str, Any]]], None] | None = None
        self.futures: list[Future] = []
        self.frozen: set[str] = set()  # workers (or "scheduler") that answer only once thawed
        self.thaw = threading.Event()

    def run(self, fn: Callable[[], Any], workers: list[str] | None = None, **_: Any) -> Any:
        asked = self.workers if workers is None else workers
        if self.frozen & set(asked):
            self.thaw.wait(30)
        return {w: fn() for w in asked}

    def register_plugin(self, plugin: Any, name: str) -> None:
        pass

    def subscribe_topic(self, topic: str, handler: Any) -> None:
        self.handler = handler

    def unsubscribe_topic(self, topic: str) -> None:
        pass

    def nthreads(self) -> dict[str, int]:
        if "scheduler" in self.frozen:
            self.thaw.wait(30)
        return dict(self.workers)

    def submit(self, fn: Any, *args: Any, key: str, **_: Any) -> Future:
        fut = Future(key, self.polls)
        self.futures.append(fut)
        assert self.handler is not None
        # the event arrives on the client's own thread, as Dask's do
        at = time.time() + self.skew
        msg = {"key": key, "worker": self.worker, "at": at}
        t = threading.Thread(target=self.handler, args=((at, msg),))
        t.start()
        t.join()
        return fut

    def cancel(self, futures: list[Future]) -> None:
        for f in futures:
            f.cancel()

    def close(self, timeout: float = 0) -> None:
        pass


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster, "POLL", 0.001)
    archive = shipping.PackArchive("0" * 64, b"", ())
    monkeypatch.setattr(shipping.PackArchive, "build", staticmethod(lambda: archive))


def _grade(
    client: FakeClient, monkeypatch: pytest.MonkeyPatch, tasks: list[tuple[str, Path]], **kw: Any
) -> list[tuple[int, Graded]]:
    monkeypatch.setattr(cluster, "Client", lambda *a, **k: client)
    settings = cluster.Settings(options={}, timeout=kw.pop("timeout", 30.0), recycle=1, **kw)
    monkeypatch.setattr(shipping, "submission_wire", lambda path: {"path": str(path)})
    lines: list[str] = []
    return list(cluster.grade(tasks, "tcp://127.0.0.1:8786", settings, lines.append))


TASKS = [("stub", Path("/class/stub")), ("s01", Path("/class/s01"))]


def test_two_batches_of_the_same_submissions_never_share_a_dask_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two courses (or a full batch and an --only one) on one scheduler, each with a "stub" of
    the same content: each batch's tasks have keys of their own, so neither records the other's
    result nor cancels the other's task."""
    first, second = FakeClient(), FakeClient()
    assert [g.kind for _, g in _grade(first, monkeypatch, TASKS)] == ["ok", "ok"]
    assert [g.kind for _, g in _grade(second, monkeypatch, TASKS)] == ["ok", "ok"]
    keys = [{f.key for f in c.futures} for c in (first, second)]
    assert len(keys[0]) == len(keys[1]) == 2
    assert not keys[0] & keys[1]


class Chatty(FakeClient):
    """Start events of another batch's tasks keep arriving on the client's thread, as on a shared
    scheduler, while the loop runs."""

    def subscribe_topic(self, topic: str, handler: Any) -> None:
        super().subscribe_topic(topic, handler)
        self.stop = threading.Event()

        def chatter() -> None:
            n = 0
            while not self.stop.is_set():
                n += 1
                handler((0.0, {"key": f"grade-other-{n}", "worker": "tcp://w2", "at": time.time()}))

        self.thread = threading.Thread(target=chatter, daemon=True)
        self.thread.start()

    def unsubscribe_topic(self, topic: str) -> None:
        self.stop.set()
        self.thread.join()


def test_start_events_arriving_while_the_loop_reads_them_do_not_crash_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The event handler runs on the client's thread: the loop must never iterate a dict the
    handler changes ("dictionary changed size during iteration")."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        tasks = [(f"s{i:02}", Path(f"/class/s{i:02}")) for i in range(40)]
        graded = _grade(Chatty(polls=20), monkeypatch, tasks)
    finally:
        sys.setswitchinterval(old)
    assert sorted(i for i, _ in graded) == list(range(40))


@pytest.mark.parametrize("skew", [-3600.0, 3600.0])
def test_a_workers_clock_off_by_an_hour_neither_cancels_nor_stretches_deadlines(
    monkeypatch: pytest.MonkeyPatch, skew: float
) -> None:
    """Deadlines run on the coordinator's clock from when the start event arrives, whatever time
    the worker's clock says."""
    graded = _grade(FakeClient(polls=3, skew=skew), monkeypatch, TASKS)
    assert [g.kind for _, g in graded] == ["ok", "ok"]
    monkeypatch.setattr(cluster, "GRACE", 0.0)
    # answers long after a deadline of 0 s: cancelled, not stretched by the worker's clock
    graded = _grade(FakeClient(polls=500, skew=skew), monkeypatch, TASKS, timeout=0.0)
    assert [g.kind for _, g in graded] == ["timeout", "timeout"]


def test_a_start_on_a_worker_that_left_does_not_count_toward_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A task whose worker died is retried on another: the first attempt's start must not
    cancel the retry (here its start was announced by a worker no longer connected)."""
    monkeypatch.setattr(cluster, "GRACE", 0.0)
    client = FakeClient(polls=5, worker="tcp://gone")
    graded = _grade(client, monkeypatch, TASKS, timeout=0.0)
    assert [g.kind for _, g in graded] == ["ok", "ok"]


@pytest.mark.parametrize("frozen", ["tcp://w2", "scheduler"])
def test_a_frozen_worker_or_scheduler_at_the_start_stops_the_batch_within_the_bound(
    monkeypatch: pytest.MonkeyPatch, frozen: str
) -> None:
    """The version check and the scheduler's calls before the loop are bounded by --dask-wait
    (Dask's own calls have no timeout); the message names the worker that did not answer, and
    does not ask whether the grader is installed."""
    client = FakeClient()
    client.frozen = {frozen}
    try:
        with pytest.raises(cluster.ClusterError) as err:
            _grade(client, monkeypatch, TASKS, wait=0.2)
    finally:
        client.thaw.set()
    message = str(err.value)
    assert "did not answer within 0.2 s" in message
    assert "installed" not in message
    if frozen == "scheduler":
        assert "the Dask scheduler" in message
    else:
        assert "tcp://w2" in message and "tcp://w1" not in message
    assert not client.futures


@pytest.mark.parametrize(
    "address", ["tcp://10.0.0.7:8786", "10.0.0.7:8786", "tcp://login.cluster:8786", "ws://h:80"]
)
def test_a_plain_scheduler_beyond_this_machine_is_refused_before_connecting(
    monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    """No TLS, no auth: whoever reaches it runs code on the workers and forges results."""
    monkeypatch.setattr(cluster, "Client", lambda *a, **k: pytest.fail("connected"))
    settings = cluster.Settings(options={}, timeout=30.0, recycle=1)
    with pytest.raises(cluster.ClusterError) as err:
        list(cluster.grade(TASKS, address, settings, print))
    message = str(err.value)
    assert "no encryption and no authentication" in message
    assert "tls://" in message and "SSH tunnel" in message and "--dask-insecure" in message


@pytest.mark.parametrize(
    "address", ["tcp://127.0.0.1:8786", "localhost:8786", "tcp://[::1]:8786", "tls://h:8786"]
)
def test_loopback_and_tls_schedulers_are_accepted(address: str) -> None:
    cluster.check_address(address, insecure=False)


def test_dask_insecure_accepts_a_plain_scheduler_beyond_this_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster.check_address("tcp://10.0.0.7:8786", insecure=True)
    graded = _grade(FakeClient(), monkeypatch, TASKS, insecure=True)
    assert [g.kind for _, g in graded] == ["ok", "ok"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream", [Terminal(), io.StringIO()])
def test_the_cluster_line_never_sends_a_submissions_control_characters(
    stream: io.StringIO,
) -> None:
    """The line names the submissions being graded: folder names are student text."""
    progress = batch.Progress(batch.Summary(), 2, stream)
    progress.status("dask: 1 worker connected; grading \x1b]0;owned\x07s01")
    shown = stream.getvalue()
    assert "\x1b" not in shown and "\x07" not in shown and "s01" in shown
