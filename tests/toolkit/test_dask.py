"""grader batch --dask: the same gradebook from a Dask cluster, even when a worker is killed.

A ``LocalCluster`` over loopback with two worker processes (one thread each, as the docs ask);
one worker is SIGKILLed after the first result comes back, Dask reschedules its tasks on the
other (or on the worker the nanny restarts), and the gradebook must equal a local run's.
"""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.classroom import batch

distributed = pytest.importorskip("distributed")

from test_batch import FAST, comparable, make_class, read_book  # noqa: E402
from test_cluster import OnFirstResult  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    # As root, test_cluster.py proves the same (and more) through a scheduler and workers that
    # are separate commands, in mount namespaces of their own, as another user.
    pytest.mark.skipif(os.geteuid() == 0, reason="as root, test_cluster.py covers this"),
    # distributed's own shutdown chatter is not ours to fix
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
        silence_logs=40,
    ) as c:
        yield c


def test_dask_batch_equals_local_batch_despite_a_killed_worker(
    tmp_path: Path, cluster: object
) -> None:
    src = make_class(tmp_path / "class", 6)
    local_out, dask_out = tmp_path / "local", tmp_path / "dask"
    batch.run_batch(src, local_out, FAST, stream=io.StringIO())
    address = cluster.scheduler_address  # type: ignore[attr-defined]
    with distributed.Client(address) as client:
        pids = client.run(os.getpid)
    stream = OnFirstResult(lambda: os.kill(next(iter(pids.values())), signal.SIGKILL))
    summary = batch.run_batch(src, dask_out, FAST, dask=address, stream=stream)
    assert stream.done
    assert summary.done == 6 and summary.counts == {"graded": 6}, stream.getvalue()
    assert comparable(read_book(dask_out)) == comparable(read_book(local_out))
    # and a rerun on the cluster grades nothing
    again = batch.run_batch(src, dask_out, FAST, dask=address, stream=io.StringIO())
    assert again.skipped == 6 and again.done == 0
