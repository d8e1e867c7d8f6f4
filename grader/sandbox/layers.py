"""What every sandbox applies and how it fails: the workers' limits, the layers and the switch
that turns them off for tests, the sandbox users' uids, and the two exceptions student code
reaches the tests as.

* ``StudentError`` (an ``Exception``): the student's function raised; the worker is still fine.
* ``WorkerGone`` (a ``BaseException``): the worker hung, crashed, exited or flooded its output.
  It is a ``BaseException`` so that Hypothesis stops at once instead of shrinking by replaying a
  hung call (research/security.md, c.11); every later call in the same test fails the same way.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    """Resource limits of each worker; defaults are generous for this assignment's inputs."""

    call_timeout: float = 10.0  # wall-clock seconds per call (RLIMIT_CPU does not see sleeping)
    #: A submission that hangs everywhere (a loop at import, in a shared helper) must still be
    #: graded inside Gradescope's 10 minutes: after ``strikes`` timeouts of one function, or
    #: once ``patience`` seconds of the grading went to timeouts, calls get ``short_timeout``.
    strikes: int = 2
    patience: float = 90.0
    short_timeout: float = 1.0
    start_timeout: float = 60.0  # wall-clock seconds for the zygote to start (imports torch)
    memory: int = 2 * 2**30  # bytes of address space above the zygote's own footprint
    cpu: int = 120  # CPU seconds per worker (one test)
    fsize: int = 16 * 2**20
    nofile: int = 256
    nproc: int = 64
    output: int = 64 * 2**10  # bytes of stdout+stderr kept per test
    output_kill: int = 20  # kill a worker that prints more than this many times ``output``

    def timeout_for(self, name: str, timeouts: dict[str, int], lost: float) -> float:
        """The wall-clock limit of a call of ``name`` once ``timeouts`` (per name) have cost
        ``lost`` seconds of the grading (see ``strikes``)."""
        if timeouts.get(name, 0) >= self.strikes or lost >= self.patience:
            return min(self.short_timeout, self.call_timeout)
        return self.call_timeout


DEFAULT_LIMITS = Limits()
#: First uid of the sandbox users; slot k runs as SLOT_UID + k (security.md, c.1: one uid per
#: concurrent worker, because RLIMIT_NPROC counts per uid across the whole machine).
SLOT_UID = 61000
SLOTS = 64
SLOT_LOCKS = Path(tempfile.gettempdir()) / "grader-slots"
#: The "user" layer as root: a uid of its own from the slots (SLOT_UID + k).
OWN_UID = f"a sandbox uid of its own ({SLOT_UID}+)"
#: The layers of the sandbox, as ``GRADER_UNSAFE_DISABLE`` names them (docs/SECURITY.md).
LAYERS = ("seccomp", "uid", "userns", "netns", "mountns", "landlock", "rlimits", "canary")
#: The environment variable that turns layers off: for the canary's own tests and for
#: bench/bench_hardening.py only. The start-up canary refuses to grade as root without them.
UNSAFE_DISABLE = "GRADER_UNSAFE_DISABLE"
#: Marks every process a spawned zygote starts (an environment entry is inherited across fork
#: and cannot be taken out of /proc/PID/environ without exec, which seccomp forbids).
MARKER = "GRADER_SANDBOX"


class StudentError(Exception):
    """The student's code raised; ``type`` and ``message`` are theirs, shown as text only."""

    def __init__(self, type_: str, message: str, traceback: str = "", available: str = "") -> None:
        super().__init__(f"{type_}: {message}")
        self.type = type_
        self.message = message
        self.traceback = traceback
        self.available: list[str] = json.loads(available) if available else []

    @property
    def not_implemented(self) -> bool:
        return self.type == "NotImplementedError"


class WorkerGone(BaseException):
    """The worker is dead or had to be killed; ``reason`` says why, in a student's words;
    ``staff``: what the worker said of its own failure, for the results' hidden part only;
    ``grader_fault``: whether that is the grader's own word (a ``fatal`` frame sent before any
    student code ran), not a frame the student's code could have written."""

    def __init__(self, reason: str, staff: str = "", grader_fault: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.staff = staff
        self.grader_fault = grader_fault


class SandboxError(RuntimeError):
    """The sandbox itself could not start: a grader fault, not the student's."""


def running_as_root() -> bool:
    return os.geteuid() == 0


PR_GET_DUMPABLE, PR_SET_DUMPABLE = 3, 4


@contextlib.contextmanager
def undumpable() -> Iterator[None]:
    """Make this (trusted) process non-dumpable while student code runs.

    Without root the worker has our uid, and with no Yama LSM (as here) that is enough to read
    our /proc/PID/mem and environ: the expected values of the tests. A non-dumpable process is
    off limits to ptrace-style access from other processes of the same uid.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    before = libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    try:
        yield
    finally:
        if before > 0:
            libc.prctl(PR_SET_DUMPABLE, before, 0, 0, 0)


def unsafe_disabled() -> frozenset[str]:
    """The layers ``GRADER_UNSAFE_DISABLE`` (comma-separated) turns off; a typo is an error."""
    names = {n.strip() for n in os.environ.get(UNSAFE_DISABLE, "").split(",") if n.strip()}
    unknown = sorted(names - set(LAYERS))
    if unknown:
        raise SandboxError(
            f"{UNSAFE_DISABLE}: unknown layer {', '.join(unknown)} (known: {', '.join(LAYERS)})"
        )
    return frozenset(names)


def landlock_expected(disabled: frozenset[str]) -> bool:
    """Whether workers restrict themselves with Landlock: the kernel has it and ``disabled``
    (``GRADER_UNSAFE_DISABLE``) does not name it."""
    from grader.sandbox import landlock

    return "landlock" not in disabled and landlock.abi()[0] > 0


def nvidia_driver() -> bool:
    """Whether NVIDIA's kernel driver is loaded here (the only way CUDA can be available)."""
    return os.path.exists("/proc/driver/nvidia/version")
