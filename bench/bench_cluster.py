"""Benchmark: `grader batch --dask` on a cluster of separate processes, one worker against two.

    .venv/bin/python bench/bench_cluster.py [--n 8] [--workers 1 2] [--rounds R]
                                            [--suite public] [--only MODULE]

Starts ``dask scheduler`` and ``dask worker`` (one thread, no nanny) as separate commands, as an
instructor would on other machines, grades the same N generated submissions (bench_batch's mix:
4 correct, 3 with a one-line bug, 1 syntax error in every 10, then a stub and a loop) with one
worker and with two, and prints for each:

1. the wall time and the throughput (submissions a minute), and the ratio of two workers to one
   (goal: close to 2 on free cores; with ``--rounds``, each count's best run);
2. the coordinator's own CPU (``grader batch`` itself, from ``wait4``: it grades nothing, it
   reads the submissions, ships them, and writes each result): per submission over the run, and
   its fixed part, measured as a rerun of the same command that finds everything graded; and
   the scheduler's CPU (``wait4`` when it is stopped); the workers' CPU with their grading
   processes (the rest of the run's tree: this benchmark is a subreaper), a measure the
   machine's load does not change much, where wall times on a shared machine do;
3. the bytes on the wire, counted by relays this benchmark puts on every connection: the
   coordinator to the scheduler, the workers to the scheduler, and anyone to a worker (each
   worker advertises its relay's address, so the scheduler and the client reach it through
   one): per submission, each way; and the pack's archive and a submission's share, as the
   grader builds them (``grader.classroom.shipping``, where it exists);
4. from those, the cost of a 10,000-submission course on 100 workers.

No assertion: figures only (docs/BATCH.md records them with the date and the machine's load).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_batch import children_cpu, generate, reap_orphans  # noqa: E402

from grader.classroom.gradebook import Gradebook  # noqa: E402
from grader.sandbox.worker import subreaper  # noqa: E402

#: The ``dask`` command of this venv (``dask scheduler``, ``dask worker``), as a user types it.
DASK = [str(Path(sys.executable).parent / "dask")]


# -- counting bytes -----------------------------------------------------------------------------


class Relay:
    """A TCP relay on loopback that forwards to ``target`` and counts the bytes each way."""

    def __init__(self, loop: asyncio.AbstractEventLoop, target: int) -> None:
        self.loop = loop
        self.target = target
        self.up = 0  # towards the target
        self.down = 0  # back from it
        self.connections = 0
        self.port = free_port()
        asyncio.run_coroutine_threadsafe(self._serve(), loop).result()

    async def _serve(self) -> None:
        self.server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            r2, w2 = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._copy(reader, w2, "up"), self._copy(r2, writer, "down"))

    async def _copy(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, way: str) -> None:
        try:
            while data := await src.read(1 << 16):
                if way == "up":
                    self.up += len(data)
                else:
                    self.down += len(data)
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            dst.close()

    def reset(self) -> None:
        self.up = self.down = 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def event_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return loop


# -- the cluster --------------------------------------------------------------------------------


@dataclass
class Cluster:
    """``dask scheduler`` and ``workers`` ``dask worker`` processes, every connection relayed."""

    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]
    for_client: Relay  # the coordinator's address of the scheduler
    for_workers: Relay  # the workers' address of the scheduler
    to_workers: list[Relay]  # each worker's advertised address

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.for_client.port}"

    def close(self) -> float:
        """Stop every process; the scheduler's CPU seconds over its life."""
        for p in [*self.workers, self.scheduler]:
            p.terminate()
        for p in self.workers:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        _, status, usage = os.wait4(self.scheduler.pid, 0)
        self.scheduler.returncode = os.waitstatus_to_exitcode(status)
        return usage.ru_utime + usage.ru_stime


def start_cluster(n: int, loop: asyncio.AbstractEventLoop, tmp: Path, log: Path) -> Cluster:
    port = free_port()
    tmp.mkdir()
    logs = log.open("ab")  # the children keep their copies; ours is closed below
    scheduler = subprocess.Popen(
        [*DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        stdout=logs,
        stderr=logs,
        cwd=tmp,
    )
    for_client, for_workers = Relay(loop, port), Relay(loop, port)
    workers, to_workers = [], []
    for k in range(n):
        listen = free_port()
        relay = Relay(loop, listen)
        to_workers.append(relay)
        workers.append(
            subprocess.Popen(
                [
                    *DASK,
                    "worker",
                    f"tcp://127.0.0.1:{for_workers.port}",
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--name",
                    f"w{k}",
                    "--listen-address",
                    f"tcp://127.0.0.1:{listen}",
                    "--contact-address",
                    f"tcp://127.0.0.1:{relay.port}",
                    "--local-directory",
                    str(tmp / f"w{k}"),
                ],
                stdout=logs,
                stderr=logs,
                cwd=tmp,
                env={**os.environ, "GRADER_PACK_CACHE": str(tmp / f"packs-{k}")},
            )
        )
    logs.close()
    cluster = Cluster(scheduler, workers, for_client, for_workers, to_workers)
    from distributed import Client

    # not relayed: not counted
    with Client(f"tcp://127.0.0.1:{port}", timeout=60) as client:  # type: ignore[no-untyped-call]
        client.wait_for_workers(n, timeout=120)
    return cluster


# -- one run --------------------------------------------------------------------------------------


@dataclass
class Run:
    workers: int
    wall: float
    cpu: float  # the coordinator's, the whole run
    fixed_cpu: float  # the coordinator's on a rerun that grades nothing
    client_up: int
    client_down: int
    workers_in: int
    workers_out: int
    rows: list[tuple[object, ...]]
    scheduler_cpu: float = 0.0  # its whole life: start, the workers' registration, the batch
    workers_cpu: float = 0.0  # the workers and their grading processes, their whole life


def coordinator(cmd: list[str], log: Path) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, from wait4) of one ``grader batch``."""
    with log.open("ab") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=out)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: see {log}")
    return wall, usage.ru_utime + usage.ru_stime


def rows(out: Path) -> list[tuple[object, ...]]:
    with Gradebook(out / "gradebook.sqlite") as book:
        return [
            (r.id, r.status, r.score, tuple((o.number, o.score, o.status) for o in r.outcomes))
            for r in book.records()
        ]


def run(n_workers: int, source: Path, extra: list[str], tmp: Path, log: Path, k: int) -> Run:
    loop = event_loop()
    before = children_cpu()
    cluster = start_cluster(n_workers, loop, tmp / f"cluster-{k}", log)
    try:
        for relay in [cluster.for_client, cluster.for_workers, *cluster.to_workers]:
            relay.reset()  # the workers' registration is not the batch's
        out = tmp / f"out-{k}"
        cmd = [sys.executable, "-m", "grader", "batch", str(source), "--out", str(out)]
        cmd += ["--dask", cluster.address, "--no-similarity", *extra]
        wall, cpu = coordinator(cmd, log)
        up, down = cluster.for_client.up, cluster.for_client.down
        into = cluster.for_workers.down + sum(r.up for r in cluster.to_workers)
        out_of = cluster.for_workers.up + sum(r.down for r in cluster.to_workers)
        _, fixed = coordinator(cmd, log)
        result = Run(n_workers, wall, cpu, fixed, up, down, into, out_of, rows(out))
    finally:
        scheduler_cpu = cluster.close()
        loop.call_soon_threadsafe(loop.stop)
    result.scheduler_cpu = scheduler_cpu
    # Everything the cluster ran is our descendant (we are a subreaper: the grading processes a
    # worker leaves behind come back to us): all of it reaped, less what is counted apart.
    reap_orphans()
    total = children_cpu() - before
    result.workers_cpu = total - result.cpu - result.fixed_cpu - scheduler_cpu
    return result


# -- what the grader ships ----------------------------------------------------------------------


def shipped(source: Path) -> tuple[int | None, float | None]:
    """The pack's archive (bytes) and a submission's content as a task carries it (mean bytes,
    pickled), where this grader ships content; (None, None) where tasks still carry paths."""
    try:
        from grader.classroom import shipping
    except ImportError:
        return None, None
    archive = shipping.PackArchive.build()
    subs = sorted(source.iterdir())
    sizes = [len(pickle.dumps(shipping.submission_wire(p))) for p in subs]
    return len(archive.data), sum(sizes) / len(sizes)


def kib(n: float) -> str:
    return f"{n / 1024:.1f} KiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="submissions (default 8)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat, each round in the reverse order of the last (1 2, 2 1, ...): on a shared "
        "machine the load drifts, and the figures compared are each count's best",
    )
    parser.add_argument("--suite", action="append", help="grader batch --suite (default: all)")
    parser.add_argument("--only", help="grader batch --only")
    args = parser.parse_args()
    extra = [a for s in args.suite or [] for a in ("--suite", s)]
    extra += ["--only", args.only] if args.only else []
    subreaper()
    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    log = tmp / "cluster.log"
    try:
        source = generate(args.n, tmp / "class")
        load = os.getloadavg()
        print(f"{args.n} submissions, {os.cpu_count()} cores, load average before {load[0]:.2f}")
        runs: list[Run] = []
        order = list(args.workers)
        for _ in range(args.rounds):
            for w in order:
                r = run(w, source, extra, tmp, log, len(runs))
                runs.append(r)
                show(r, args.n)
            order.reverse()
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        best = [
            min((r for r in runs if r.workers == w), key=lambda r: r.wall) for w in args.workers
        ]
        for r in best[1:]:
            ratio = best[0].wall / r.wall
            print(f"throughput, {r.workers} workers against {best[0].workers}: {ratio:.2f}x")
        same = all(r.rows == runs[0].rows for r in runs)
        print("gradebooks: " + ("all the same" if same else "DIFFERENT between runs"))
        pack_bytes, per_sub = shipped(source)
        if pack_bytes is None or per_sub is None:
            print("this grader ships paths, not content: no pack archive to measure")
        else:
            print(
                f"the pack as shipped: {kib(pack_bytes)}; a submission's content as a task "
                f"carries it: {kib(per_sub)} (pickled, mean of {args.n})"
            )
        estimate(best[-1], args.n, pack_bytes)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def show(r: Run, n: int) -> None:
    print(
        f"{r.workers} worker(s): {r.wall:.1f} s = {n / r.wall * 60:.1f} submissions a minute; "
        f"coordinator CPU {r.cpu:.2f} s ({r.cpu / n:.3f} s a submission; "
        f"{r.fixed_cpu:.2f} s for a rerun that grades nothing, so "
        f"{(r.cpu - r.fixed_cpu) / n:.3f} s a submission above it); scheduler CPU "
        f"{r.scheduler_cpu:.2f} s in all; workers' CPU {r.workers_cpu / n:.2f} s a submission "
        f"(start-up included), so {os.cpu_count() or 1} free cores would grade "
        f"{(os.cpu_count() or 1) / (r.workers_cpu / n) * 60:.1f} a minute"
    )
    print(
        f"    wire: coordinator -> scheduler {kib(r.client_up / n)}, back "
        f"{kib(r.client_down / n)} a submission; into the workers "
        f"{kib(r.workers_in / n)}, out of them {kib(r.workers_out / n)} a submission "
        f"({kib(r.workers_in)} in all)"
    )


def estimate(r: Run, n: int, pack_bytes: int | None) -> None:
    """10,000 submissions on 100 one-core workers, from the run with the most workers: the
    workers' CPU a submission (each worker's start-up included; on free cores the wall time a
    submission of a one-thread worker), and, as measured here, its wall time times workers; the
    coordinator's CPU (its fixed part once, the rest per submission) and traffic; one pack per
    worker."""
    subs, workers = 10_000, 100
    free = subs * r.workers_cpu / n / workers
    here = subs * r.wall * r.workers / n / workers
    coord = r.fixed_cpu + subs * (r.cpu - r.fixed_cpu) / n
    wire = subs * (r.client_up + r.client_down) / n
    packs = workers * (pack_bytes or 0)
    print(
        f"estimate, {subs} submissions on {workers} workers: {free / 60:.0f} min of wall on free "
        f"cores ({here / 60:.0f} min at this run's wall time a submission); coordinator CPU "
        f"{coord / 60:.1f} min ({coord / free:.0%} of one core over the run); coordinator "
        f"traffic {wire / 2**20:.0f} MiB; packs {packs / 2**20:.1f} MiB to the workers"
    )


if __name__ == "__main__":
    main()
