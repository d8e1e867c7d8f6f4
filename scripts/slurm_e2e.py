"""A real one-node Slurm, end to end (issue 28): ``grader batch --dask`` through dask-jobqueue.

Run by ``scripts/slurm-e2e`` (which installs Debian's Slurm and munge and dask-jobqueue first),
as root, from a clone set up by ``scripts/setup``::

    .venv/bin/python scripts/slurm_e2e.py --folder DIR      the whole run
    .venv/bin/python scripts/slurm_e2e.py --teardown DIR    stop what a run left in DIR

The run configures munge and Slurm for this host alone, every file in the private folder DIR
(a key, sockets, pid files, logs, the controller's state, the jobs' spool): nothing under /etc
is read or written. It starts munged, slurmctld and slurmd, waits for the node to be idle,
grades a small class twice, once with ``grader batch --jobs 2`` and once with ``grader batch
--dask`` on the scheduler of a ``SLURMCluster`` whose two workers are Slurm jobs submitted with
sbatch (each in a mount namespace where the batch input and the course's folders are empty),
scancels one of those jobs once the first result is in, and compares the two gradebooks score
by score and test by test. Then it cancels the
jobs, waits for the queue to empty (with ``proctrack/linuxproc`` a job's slurmstepd outlives a
killed slurmd), stops the three daemons by their pid files, and checks that no process of their
names is left that was not there before. ``--teardown`` does the last part alone: the shell
script runs it from its exit trap, so a run killed at any point still leaves nothing behind.

Exit codes as scripts/gradescope-e2e: 0 the gradebooks match and Slurm is down; 1 they differ,
a step failed, or something was left running; 3 this machine cannot run it (said why).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slurm_local import (
    DAEMONS,
    CannotRun,
    Layout,
    StepFailed,
    Timings,
    compare_books,
    one_node_slurm,
    teardown,
    worker_python,
)

ROOT = Path(__file__).resolve().parent.parent
# This clone's grader, not whichever one the venv was installed from: the scheduler runs in this
# process and unpickles the tasks, and the batches (``python -m grader`` here) and the Slurm jobs
# (started in this folder) import it from here too.
sys.path.insert(0, str(ROOT))
EXIT_OK, EXIT_FAILED, EXIT_CANNOT = 0, 1, 3

#: The two Dask workers of the run: one Slurm job each, one core and one thread each (pytest
#: in-process is not thread-safe; docs/BATCH.md).
WORKERS = 2
#: How long the workers may take to connect once their jobs are submitted: the research run saw
#: ~2 s; a missing SLURM_CONF makes sbatch fail silently inside dask-jobqueue, and this bound is
#: what turns that into an error instead of a hang.
CONNECT_BOUND = 180.0
#: What one grading of the class may take, either way (a looping submission costs ~25 s).
BATCH_BOUND = 1200.0


# -- the class ------------------------------------------------------------------------------------


def make_class(dest: Path) -> Path:
    """Seven submissions of every kind the intake and the engine tell apart: the reference as a
    folder and as a zip, the stubs, the two example submissions with bugs, the notebook, and one
    that loops forever in ``step_decay`` (its calls run to the per-call timeout)."""
    dest.mkdir(parents=True)

    def copy(src: Path, name: str, edit: tuple[str, str, str] | None = None) -> None:
        (dest / name).mkdir()
        for f in sorted(src.glob("*.py")):
            text = f.read_text()
            if edit is not None and f.name == edit[0]:
                assert edit[1] in text, f"{f} no longer has {edit[1]!r}"
                text = text.replace(edit[1], edit[2], 1)
            (dest / name / f.name).write_text(text)

    copy(ROOT / "solutions", "reference")
    copy(ROOT / "assignment", "stubs")
    copy(ROOT / "examples" / "buggy", "buggy")
    copy(ROOT / "examples" / "partial", "partial")
    loop = ("schedules.py", "    return lr0 * gamma", "    while t >= 0:\n        pass\n")
    copy(ROOT / "solutions", "looping", (loop[0], loop[1], loop[2] + loop[1]))
    (dest / "notebook.ipynb").write_bytes(
        (ROOT / "examples" / "notebook" / "assignment.ipynb").read_bytes()
    )
    with zipfile.ZipFile(dest / "reference-zip.zip", "w") as zf:
        for f in sorted((ROOT / "solutions").glob("*.py")):
            zf.write(f, f.name)
    return dest


def grade_cli(
    source: Path,
    out: Path,
    extra: Sequence[str],
    env: dict[str, str],
    on_first_result: Callable[[], None] | None = None,
) -> float:
    """``grader batch`` as an instructor runs it; its wall seconds. ``on_first_result`` runs
    once the batch has recorded its first submission (its progress line ``[1/N] ...``). A
    failure is a StepFailed with the command's own output."""
    cmd = [sys.executable, "-m", "grader", "batch", str(source), "--out", str(out), *extra]
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    bound = threading.Timer(BATCH_BOUND, proc.kill)
    bound.start()
    lines = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if on_first_result is not None and line.startswith("[1/"):
                on_first_result()
                on_first_result = None
        proc.wait()
    finally:
        bound.cancel()
    wall = time.monotonic() - start
    # 2 = some submission ended in a grader error: the comparison says which
    if proc.returncode not in (0, 2):
        raise StepFailed(f"{' '.join(cmd[2:])} exited {proc.returncode}:\n{''.join(lines)[-6000:]}")
    return wall


# -- the run --------------------------------------------------------------------------------------


@dataclass
class Report:
    timings: Timings
    local_wall: float = 0.0
    slurm_wall: float = 0.0
    jobs: tuple[str, ...] = ()
    cancelled: str = ""  # the worker job scancelled mid-batch
    differences: tuple[str, ...] = ()
    submissions: int = 0
    tests: int = 0


def hidden_from_workers(layout: Layout) -> list[Path]:
    """What a worker must do without: the batch input and the checkout's pack folders (the
    reference, the suites, the examples), as in tests/toolkit/test_cluster.py."""
    return [layout.root / "class", ROOT / "solutions", ROOT / "tests", ROOT / "examples"]


def slurm_cluster(layout: Layout, partition: str) -> Any:
    """A ``SLURMCluster`` whose workers will be sbatch jobs of our partition, its scheduler in
    this process (closing it scancels its jobs; the teardown checks the queue is empty anyway).
    The workers run behind ``worker_python``: none of ``hidden_from_workers`` exists for them."""
    from dask_jobqueue import SLURMCluster  # type: ignore[attr-defined]

    layout.python.write_text(worker_python(sys.executable, hidden_from_workers(layout)))
    layout.python.chmod(0o755)

    return SLURMCluster(
        queue=partition,
        cores=1,
        processes=1,
        memory="3GB",  # a grading process and its sandbox workers: ~1.5 GB (docs/BATCH.md)
        walltime="00:30:00",
        interface="lo",  # the scheduler and the workers talk over loopback only
        local_directory=str(layout.dask),
        log_directory=str(layout.jobs),  # else slurm-<id>.out lands in our working directory
        python=str(layout.python),
        scheduler_options={"dashboard_address": ":0"},  # 8787 may be another cluster's
    )


def run(layout: Layout) -> Report:
    report = Report(Timings())
    source = make_class(layout.root / "class")
    report.submissions = len(list(source.iterdir()))
    # The batches and the Slurm jobs (sbatch passes this environment on) import this clone's
    # grader, as this process does.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with report.timings.phase("local batch (grader batch --jobs 2)"):
        report.local_wall = grade_cli(source, layout.root / "local", ["--jobs", "2"], env)
    with one_node_slurm(layout, report.timings) as slurm:
        # sbatch reads SLURM_CONF from the environment of whoever calls it: dask-jobqueue calls
        # it from this process (research/slurm.md: without it the workers never appear).
        os.environ.update(slurm.env)
        from distributed import Client

        with report.timings.phase("SLURMCluster started (scheduler here)"):
            cluster = slurm_cluster(layout, slurm.partition)
        try:
            address = cluster.scheduler_address
            with report.timings.phase(f"{WORKERS} worker jobs submitted by sbatch and connected"):
                cluster.scale(jobs=WORKERS)
                with Client(address) as client:  # type: ignore[no-untyped-call]
                    try:
                        client.wait_for_workers(WORKERS, timeout=CONNECT_BOUND)
                    except TimeoutError as exc:
                        raise StepFailed(
                            f"{WORKERS} Dask workers did not connect within "
                            f"{CONNECT_BOUND:.0f} s of sbatch; the queue:\n{slurm.queue()}\n"
                            f"the job logs:\n{slurm.job_logs()}"
                        ) from exc
                    # Proof that the workers are Slurm jobs, not something else on the machine.
                    jobs = client.run(lambda: os.environ.get("SLURM_JOB_ID", ""))
                    hidden = [str(p) for p in hidden_from_workers(layout)]
                    seen = client.run(lambda: [f for d in hidden for f in os.listdir(d)])
            report.jobs = tuple(sorted(jobs.values()))
            if len(report.jobs) != WORKERS or not all(report.jobs):
                raise StepFailed(f"the Dask workers are not all Slurm jobs: {jobs}")
            if any(seen.values()):
                raise StepFailed(f"the workers see files they must not: {seen}")
            print(f"==> the workers see nothing of {', '.join(hidden)}", flush=True)
            print(f"==> workers connected from Slurm jobs {', '.join(report.jobs)}", flush=True)
            lost = report.jobs[0]

            def cancel_a_worker() -> None:
                # Slurm takes a node away mid-batch (preemption, a failed node, a time limit):
                # its tasks go to the other worker, and nothing may change in the gradebook.
                print(f"==> first result in: scancel {lost} (a worker's job)", flush=True)
                slurm.command("scancel", lost)

            with report.timings.phase("batch through SLURMCluster (grader batch --dask)"):
                report.slurm_wall = grade_cli(
                    source, layout.root / "slurm", ["--dask", address], env, cancel_a_worker
                )
            report.cancelled = lost
        finally:
            with report.timings.phase("SLURMCluster closed (scancel of its jobs)"):
                cluster.close()
    diffs, tests = compare_books(layout.root / "local", layout.root / "slurm")
    report.differences, report.tests = tuple(diffs), tests
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, help="the private folder of the run (empty)")
    parser.add_argument("--teardown", type=Path, metavar="DIR", help="stop what a run left")
    args = parser.parse_args(argv)
    if args.teardown is not None:
        left = teardown(Layout(args.teardown))
        for line in left:
            print(f"slurm-e2e: {line}", file=sys.stderr)
        return EXIT_FAILED if left else EXIT_OK
    if args.folder is None:
        parser.error("--folder DIR or --teardown DIR")
    # SIGTERM (a CI timeout, Slurm's own) unwinds like Ctrl-C, so the daemons are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT_FAILED))
    start = time.monotonic()
    try:
        report = run(Layout(args.folder))
    except CannotRun as exc:
        print(f"slurm-e2e: cannot run on this machine: {exc}", file=sys.stderr)
        return EXIT_CANNOT
    except StepFailed as exc:
        print(f"slurm-e2e: FAILED: {exc}", file=sys.stderr)
        return EXIT_FAILED
    total = time.monotonic() - start
    print("==> timings")
    for name, seconds in report.timings.items():
        print(f"    {seconds:7.1f} s  {name}")
    print(f"    {total:7.1f} s  in all (without the installs of scripts/slurm-e2e)")
    summary = {
        "submissions": report.submissions,
        "tests compared": report.tests,
        "local batch s": round(report.local_wall, 1),
        "slurm batch s": round(report.slurm_wall, 1),
        "slurm jobs": list(report.jobs),
        "cancelled mid-batch": report.cancelled,
        "host": socket.gethostname(),
        "daemons": list(DAEMONS),
    }
    print(f"==> {json.dumps(summary)}")
    if report.differences:
        print("slurm-e2e: FAILED: the gradebooks differ:", file=sys.stderr)
        for line in report.differences:
            print(f"    {line}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"==> the gradebook through Slurm equals the local one: {report.submissions} "
        f"submissions, {report.tests} test outcomes, score by score and test by test, "
        f"with worker job {report.cancelled} cancelled after the first result"
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
