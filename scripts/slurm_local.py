"""A one-node Slurm on this machine in a private folder: configure, start, wait, tear down.

The pieces of scripts/slurm_e2e.py that are plain logic (the configuration's text, reading
``sinfo``/``squeue``/``/proc/meminfo``, stopping a daemon by its pid file, finding what was
left running, comparing two gradebooks) live here and are tested without Slurm
(tests/toolkit/test_slurm_e2e.py). What a one-node Slurm needs on these machines (Debian 12,
root, no systemd, cgroup v1) is /work/shared/research/slurm.md: ``proctrack/linuxproc`` and
``task/none`` need no cgroup.conf; munged runs as root with its own key and socket.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

#: The processes a run starts, directly or through Slurm; none may be left once it is over.
DAEMONS = ("munged", "slurmctld", "slurmd", "slurmstepd")
#: The partition of the one node.
PARTITION = "grader"
#: Bounds of each wait: the node idle after the daemons start (0.2-0.5 s in the research run),
#: the queue empty after scancel, a daemon gone after SIGTERM.
UP_BOUND, QUEUE_BOUND, STOP_BOUND = 60.0, 60.0, 10.0


class CannotRun(Exception):
    """This machine cannot run the check (not root, no Slurm packages): exit 3, said why."""


class StepFailed(Exception):
    """A step of the run failed: exit 1, with what happened."""


@dataclass(frozen=True)
class Layout:
    """Every file of the run, under one private folder."""

    root: Path

    @property
    def munge(self) -> Path:  # 0711: munged refuses a socket folder others cannot traverse
        return self.root / "munge"

    @property
    def key(self) -> Path:
        return self.munge / "munge.key"

    @property
    def socket(self) -> Path:
        return self.munge / "munge.socket"

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def jobs(self) -> Path:  # the worker jobs' slurm-<id>.out
        return self.root / "jobs"

    @property
    def dask(self) -> Path:
        return self.root / "dask"

    @property
    def python(self) -> Path:  # the workers' interpreter, behind the hidden files
        return self.root / "worker-python"

    @property
    def before(self) -> Path:  # the pids of DAEMONS that ran before us: not ours to stop
        return self.root / "before.json"

    def pid(self, daemon: str) -> Path:
        return self.root / f"{daemon}.pid"

    def log(self, daemon: str) -> Path:
        return self.root / f"{daemon}.log"


# -- configuration --------------------------------------------------------------------------------


def node_memory_mb(meminfo: str) -> int:
    """The node's ``RealMemory``: nine tenths of ``MemTotal`` (slurmd drains a node that says
    more than it has), in MiB."""
    for line in meminfo.splitlines():
        name, _, rest = line.partition(":")
        if name == "MemTotal":
            kib = int(rest.split()[0])
            return max(1, kib * 9 // 10 // 1024)
    raise ValueError("no MemTotal line in /proc/meminfo")


def slurm_conf(layout: Layout, host: str, cpus: int, memory_mb: int, ports: tuple[int, int]) -> str:
    """slurm.conf for one node, ``host``, reached at 127.0.0.1: every path under the layout,
    the controller and the node on the given ports, no accounting, no cgroups."""
    lines = {
        "ClusterName": "grader-e2e",
        "SlurmctldHost": f"{host}(127.0.0.1)",
        "SlurmctldPort": ports[0],
        "SlurmdPort": ports[1],
        "SlurmUser": "root",
        "SlurmdUser": "root",
        "AuthType": "auth/munge",
        "CredType": "cred/munge",
        "AuthInfo": f"socket={layout.socket}",
        "StateSaveLocation": layout.state,
        "SlurmdSpoolDir": layout.spool,
        "SlurmctldPidFile": layout.pid("slurmctld"),
        "SlurmdPidFile": layout.pid("slurmd"),
        "SlurmctldLogFile": layout.log("slurmctld"),
        "SlurmdLogFile": layout.log("slurmd"),
        "ProctrackType": "proctrack/linuxproc",
        "TaskPlugin": "task/none",
        "JobAcctGatherType": "jobacct_gather/none",
        "AccountingStorageType": "accounting_storage/none",
        "MpiDefault": "none",
        "MailProg": "/bin/true",
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_Core",
        "ReturnToService": 2,
        "SchedulerType": "sched/backfill",
        "NodeName": f"{host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN",
        "PartitionName": f"{PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP",
    }
    return "".join(f"{k}={v}\n" for k, v in lines.items())


def free_ports(n: int) -> tuple[int, ...]:
    """``n`` distinct TCP ports free on loopback now (not Slurm's 6817/6818: a Slurm of the
    machine's own, or another run, may hold them)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return tuple(s.getsockname()[1] for s in socks)
    finally:
        for s in socks:
            s.close()


def worker_python(python: str, hidden: list[Path]) -> str:
    """A ``python`` for the Slurm jobs' Dask workers that runs the real one in a mount namespace
    of its own where each of ``hidden`` is an empty folder: a worker must need only the grader
    installed (the course's pack and the batch input reach it through the tasks, issue 28), and
    here the coordinator's files are on the same disk, so they are hidden from it."""
    mounts = "".join(
        f"mount -t tmpfs -o size=64k,mode=0755 hidden {shlex.quote(str(d))}\n" for d in hidden
    )
    return (
        "#!/bin/bash\n"
        "# written by scripts/slurm_e2e.py: a Dask worker that sees none of the course's files\n"
        "set -euo pipefail\n"
        'if [[ -z "${GRADER_E2E_HIDDEN:-}" ]]; then\n'
        "    export GRADER_E2E_HIDDEN=1\n"
        '    exec unshare --mount --propagation private "$0" "$@"\n'
        "fi\n"
        f"{mounts}"
        f'exec {shlex.quote(python)} "$@"\n'
    )


# -- reading Slurm ------------------------------------------------------------------------------


def node_states(sinfo: str) -> dict[str, str]:
    """``sinfo -h -N -o '%N %T'`` as {node: state}; a state's flags (``idle*``, ``drain~``)
    are kept, so that only a plain ``idle`` reads as ready."""
    states = {}
    for line in sinfo.splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    return states


def job_ids(squeue: str) -> list[str]:
    """``squeue -h -o %i``: the ids of the jobs in the queue, in its order."""
    return [line.strip() for line in squeue.splitlines() if line.strip()]


# -- processes ----------------------------------------------------------------------------------


def processes_named(names: tuple[str, ...]) -> dict[int, str]:
    """{pid: name} of the living processes whose name (``comm``, as ``pgrep -x`` matches it) is
    one of ``names``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:  # gone meanwhile
            continue
        if comm in names and _alive(int(entry.name)):  # a zombie runs nothing
            found[int(entry.name)] = comm
    return found


def stop(pid_file: Path, bound: float = STOP_BOUND) -> str | None:
    """Stop the daemon whose pid ``pid_file`` holds: SIGTERM, then SIGKILL after ``bound``
    seconds. None when it is gone (or never started); else what went wrong."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return None
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if not _alive(pid):
            return None
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    if _alive(pid):
        return f"{pid_file.stem} (pid {pid}) survived SIGKILL"
    return f"{pid_file.stem} (pid {pid}) ignored SIGTERM for {bound:g} s and was killed"


def _alive(pid: int) -> bool:
    """Running, not a zombie (a daemon we started and have not reaped reads as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def left_running(before: set[int], now: dict[int, str]) -> dict[int, str]:
    """What runs now of the daemons' names that did not run before the run began: ours."""
    return {pid: name for pid, name in now.items() if pid not in before}


# -- up and down ----------------------------------------------------------------------------------


@dataclass
class Timings:
    """Seconds per named phase, in order; a phase entered twice adds up."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - start

    def items(self) -> list[tuple[str, float]]:
        return list(self.seconds.items())


@dataclass
class Slurm:
    """The running one-node Slurm: its environment and what to show when something fails."""

    layout: Layout
    partition: str = PARTITION

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.layout.conf)}

    def command(self, *argv: str) -> str:
        proc = subprocess.run(
            argv, env={**os.environ, **self.env}, capture_output=True, text=True, check=False
        )
        return proc.stdout + proc.stderr

    def queue(self) -> str:
        return self.command("squeue", "-o", "%i %T %R %j")

    def job_logs(self) -> str:
        logs = sorted(self.layout.jobs.glob("*"))
        return "".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in logs)


def _require(tools: tuple[str, ...]) -> None:
    if os.geteuid() != 0:
        raise CannotRun("it must run as root (munged and slurmd run as root here)")
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise CannotRun(
            f"{', '.join(missing)} not found: scripts/slurm-e2e installs Debian's slurm-wlm "
            "and munge (apt-get); run it instead of this module"
        )


def _start(argv: list[str], what: str, layout: Layout) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    if proc.returncode != 0:
        logs = "".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
            for p in sorted(layout.root.glob("*.log"))
        )
        raise StepFailed(f"{what} did not start ({proc.returncode}): {proc.stderr}\n{logs}")


def start(layout: Layout, timings: Timings) -> Slurm:
    """Write the key and the configuration, start munged, slurmctld and slurmd, and wait (up to
    ``UP_BOUND``) for the node to be idle."""
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.root.chmod(0o711)
    running = processes_named(("slurmctld", "slurmd"))
    if running:
        # Another run's (or the machine's own) Slurm: ours would share the node's name, and the
        # teardown could not tell its job steps from ours.
        raise CannotRun(
            "a Slurm already runs here ("
            + ", ".join(f"{name} pid {pid}" for pid, name in sorted(running.items()))
            + "): one run at a time, on a machine without its own Slurm"
        )
    _require(("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel"))
    before = sorted(processes_named(DAEMONS))
    layout.before.write_text(json.dumps(before))
    for folder in (layout.munge, layout.state, layout.spool, layout.jobs, layout.dask):
        folder.mkdir(exist_ok=True)
    layout.munge.chmod(0o711)
    layout.key.write_bytes(secrets.token_bytes(1024))
    layout.key.chmod(0o400)
    host = socket.gethostname().split(".")[0]
    meminfo = Path("/proc/meminfo").read_text()
    cpus = os.cpu_count() or 1
    ctld_port, node_port = free_ports(2)
    memory = node_memory_mb(meminfo)
    layout.conf.write_text(slurm_conf(layout, host, cpus, memory, (ctld_port, node_port)))
    slurm = Slurm(layout)
    with timings.phase("munged, slurmctld, slurmd started; node idle"):
        _start(
            [
                "munged",
                f"--key-file={layout.key}",
                f"--socket={layout.socket}",
                f"--pid-file={layout.pid('munged')}",
                f"--log-file={layout.log('munged')}",
                f"--seed-file={layout.munge / 'munge.seed'}",
            ],
            "munged",
            layout,
        )
        _start(["slurmctld", "-f", str(layout.conf)], "slurmctld", layout)
        _start(["slurmd", "-f", str(layout.conf)], "slurmd", layout)
        deadline = time.monotonic() + UP_BOUND
        while True:
            states = node_states(slurm.command("sinfo", "-h", "-N", "-o", "%N %T"))
            if states.get(host) == "idle":
                break
            if time.monotonic() > deadline:
                raise StepFailed(
                    f"node {host} not idle within {UP_BOUND:g} s (sinfo: {states}); "
                    f"logs in {layout.root}"
                )
            time.sleep(0.2)
    print(f"==> Slurm up: node {host} idle, {cpus} CPUs, config {layout.conf}", flush=True)
    return slurm


def teardown(layout: Layout, linger: float = STOP_BOUND) -> list[str]:
    """Cancel every job, wait for the queue to empty, stop slurmd, slurmctld and munged, and
    return what is wrong: a queue that would not empty, a daemon that needed SIGKILL, a process
    of the daemons' names started since the run began and still running (each is then killed,
    so that nothing outlives the run even when this reports a failure). A job step's slurmstepd
    may take a moment to exit after its job is cancelled: it has ``linger`` seconds."""
    problems: list[str] = []
    env = {**os.environ, "SLURM_CONF": str(layout.conf)}
    if layout.conf.exists() and layout.pid("slurmctld").exists():
        subprocess.run(["scancel", "--partition", PARTITION], env=env, check=False, timeout=30)
        deadline = time.monotonic() + QUEUE_BOUND
        while True:
            proc = subprocess.run(
                ["squeue", "-h", "-o", "%i"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            )
            queued = job_ids(proc.stdout)
            if proc.returncode != 0 or not queued:
                break
            if time.monotonic() > deadline:
                problems.append(
                    f"jobs {', '.join(queued)} still queued {QUEUE_BOUND:g} s after scancel"
                )
                break
            time.sleep(0.2)
    for daemon in ("slurmd", "slurmctld", "munged"):
        trouble = stop(layout.pid(daemon))
        if trouble:
            problems.append(trouble)
    try:
        before = set(json.loads(layout.before.read_text()))
    except (OSError, ValueError):
        before = set()
    deadline = time.monotonic() + linger
    left = left_running(before, processes_named(DAEMONS))
    while left and time.monotonic() < deadline:  # a job step's slurmstepd exits on its own
        time.sleep(0.2)
        left = left_running(before, processes_named(DAEMONS))
    for pid, name in sorted(left.items()):
        problems.append(f"{name} (pid {pid}) was still running after the teardown: killed")
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return problems


@contextmanager
def one_node_slurm(layout: Layout, timings: Timings) -> Iterator[Slurm]:
    """Slurm up for the ``with`` block, torn down on the way out however it is left; a teardown
    that found something wrong is a StepFailed (unless the block already failed)."""
    try:
        slurm = start(layout, timings)
        yield slurm
    finally:
        with timings.phase("teardown: jobs cancelled, queue empty, daemons stopped"):
            problems = teardown(layout)
        if problems:
            raise StepFailed("the teardown: " + "; ".join(problems))
        print(f"==> Slurm down: none of {', '.join(DAEMONS)} left running", flush=True)


# -- the comparison -------------------------------------------------------------------------------


def compare_books(a: Path, b: Path) -> tuple[list[str], int]:
    """The differences between the gradebooks of batch folders ``a`` and ``b``, submission by
    submission and test by test (timings aside), and the number of test outcomes compared."""
    from grader.classroom.gradebook import Gradebook

    with Gradebook(a / "gradebook.sqlite") as book:
        left = {r.id: r for r in book.records()}
    with Gradebook(b / "gradebook.sqlite") as book:
        right = {r.id: r for r in book.records()}
    diffs = [f"{i}: only in {a.name}" for i in sorted(left.keys() - right.keys())]
    diffs += [f"{i}: only in {b.name}" for i in sorted(right.keys() - left.keys())]
    compared = 0
    for i in sorted(left.keys() & right.keys()):
        x, y = left[i], right[i]
        for what in ("status", "score", "max_score", "content_digest", "suite_digest"):
            if getattr(x, what) != getattr(y, what):
                diffs.append(f"{i}: {what} {getattr(x, what)!r} vs {getattr(y, what)!r}")
        if x.status != y.status:  # the staff's reason, cut to its last line
            for side, rec in ((a, x), (b, y)):
                if rec.error:
                    diffs.append(f"{i}: in {side.name}: {rec.error.strip().splitlines()[-1]}")
        xs = {o.number: o for o in x.outcomes}
        ys = {o.number: o for o in y.outcomes}
        if xs.keys() != ys.keys():
            diffs.append(
                f"{i}: {len(xs.keys() - ys.keys())} tests only in {a.name}, "
                f"{len(ys.keys() - xs.keys())} only in {b.name}"
            )
        for number in sorted(xs.keys() & ys.keys()):
            compared += 1
            p, q = xs[number], ys[number]
            for what in (
                "name",
                "score",
                "max_score",
                "status",
                "suite",
                "tags",
                "fingerprint",
                "cut_by",
            ):
                if getattr(p, what) != getattr(q, what):
                    diffs.append(
                        f"{i}: test {number} {what} {getattr(p, what)!r} vs {getattr(q, what)!r}"
                    )
    return diffs, compared
