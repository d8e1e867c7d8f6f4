"""The cores a grading may use: what this process is allowed (its affinity and the CPU quota of
its cgroups), and the ones a batch lends its last gradings once its other job slots idle.

Kept apart from grader.grading.shard, which imports pytest: a batch's coordinator needs only
this."""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

#: At most this many processes by default: one per core, and memory stays in Gradescope's 768 MB.
DEFAULT_MAX = 2


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


@dataclass(frozen=True)
class Spare:
    """Cores other gradings have left idle, as tokens in a pipe (one byte a core), after make's
    jobserver. A batch's coordinator puts one in when a job slot runs out of submissions; the
    helper each grading forked asleep (grader.grading.shard) takes one, runs tests from its
    grading's queue, and puts it back when they run out. So the last gradings of a batch finish
    on the cores the others left, instead of one core each while the rest idle."""

    read: int  # non-blocking
    write: int

    #: how a batch's coordinator tells its grading processes: "READ,WRITE" (inherited fds)
    ENV = "GRADER_SPARE_CORES"

    @classmethod
    def create(cls) -> Spare:
        read, write = os.pipe()
        os.set_blocking(read, False)
        return cls(read, write)

    @classmethod
    def from_env(cls) -> Spare | None:
        value = os.environ.get(cls.ENV, "")
        try:
            read, write = (int(fd) for fd in value.split(","))
            os.fstat(read), os.fstat(write)
        except (ValueError, OSError):
            return None
        return cls(read, write)

    def env(self) -> str:
        return f"{self.read},{self.write}"

    def take(self) -> bool:
        try:
            return len(os.read(self.read, 1)) == 1
        except OSError:  # none there (EAGAIN), or the batch is over
            return False

    def give(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self.write, b"+")
