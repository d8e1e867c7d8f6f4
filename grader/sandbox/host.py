"""The trusted side of the trust boundary: start, drive and kill the untrusted worker.

A ``Sandbox`` owns one zygote process (``grader.sandbox.worker``) for one submission;
``Sandbox.worker()``
forks a fresh, locked-down worker from it (one per test, so module-level state cannot leak between
tests). A ``Worker`` proxies calls: arguments go out as copies, values come back decoded by
``grader.sandbox.protocol`` (never unpickled), callables stay here as handles the worker calls back.

Failures of student code reach the tests as two exception types:

* ``StudentError`` (an ``Exception``): the student's function raised; the worker is still fine.
* ``WorkerGone`` (a ``BaseException``): the worker hung, crashed, exited or flooded its output.
  It is a ``BaseException`` so that Hypothesis stops at once instead of shrinking by replaying a
  hung call (research/security.md, c.11); every later call in the same test fails the same way.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import messages
from grader.authoring import pack
from grader.sandbox import protocol


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
    """The worker is dead or had to be killed; ``reason`` says why, in a student's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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


# -- the sandbox (one per submission) -------------------------------------------------------------


@dataclass
class Sandbox:
    """Holds the student's files in a scratch directory and a zygote that forks workers."""

    sources: dict[str, str]
    limits: Limits = DEFAULT_LIMITS
    torch: bool = False
    mother: Mother | None = None  # a warm process that forks zygotes (batch grading)
    layers: dict[str, str] = field(default_factory=dict)
    #: layers turned off (tests and benchmarks only; see ``unsafe_disabled``)
    disabled: frozenset[str] = field(default_factory=unsafe_disabled)
    #: serve the calls that need no torch from a second zygote without it (``worker(lean=)``)
    lean: bool = True
    #: the student modules (the pack's), importable only from the scratch directory; default:
    #: every ``.py`` file of ``sources``
    modules: tuple[str, ...] | None = None
    #: the files of the modules that need torch (the pack's ``torch = true``): the lean zygote
    #: serves the others
    torch_files: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.scratch = Path(tempfile.mkdtemp(prefix="grader-sub-"))
        #: processes of the submission still alive after ``close`` (it kills them; [] expected)
        self.survivors: list[int] = []
        #: called once before the first worker that may run student code (the canary); what it
        #: raises is kept in ``gate_error`` and raised again by every later ``worker()``
        self.gate: Callable[[], None] | None = None
        self.gate_error: BaseException | None = None
        self._gate_lock = threading.Lock()
        self._marker = secrets.token_hex(8)
        self._slot: _Slot | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        self._ctrl: socket.socket | None = None
        self._lock = threading.Lock()
        self._workers: list[Worker] = []
        self._starting = False
        #: why the zygote failed to start, once a worker was asked for (a grader fault)
        self.failed: str | None = None
        #: timeouts so far per called name, and the wall seconds they cost (``timeout_for``)
        self.timeouts: dict[str, int] = {}
        self.time_lost = 0.0
        #: set by a sharded grading while a test runs: true once the test's outcome can no
        #: longer count (a test before it timed out elsewhere): its call stops at once
        self.abandon: Callable[[], bool] | None = None
        #: a second zygote without torch, for the calls of modules that do not use it (``lean``)
        self._lean: Sandbox | None = None
        self._parent: Sandbox | None = None

    def timeout_for(self, name: str) -> float:
        """The wall-clock limit of the next call of ``name`` (see ``Limits.strikes``)."""
        if self._parent is not None:  # one budget for the grading, whichever zygote serves
            return self._parent.timeout_for(name)
        lim = self.limits
        if self.timeouts.get(name, 0) >= lim.strikes or self.time_lost >= lim.patience:
            return min(lim.short_timeout, lim.call_timeout)
        return lim.call_timeout

    def timed_out(self, name: str, seconds: float) -> str:
        """Count a timeout of ``name``; the student's message for it."""
        if self._parent is not None:
            return self._parent.timed_out(name, seconds)
        self.timeouts[name] = self.timeouts.get(name, 0) + 1
        self.time_lost += seconds
        if seconds < self.limits.call_timeout:
            return messages.TIMED_OUT_AGAIN.format(seconds=seconds, full=self.limits.call_timeout)
        return messages.TIMED_OUT.format(seconds=seconds)

    def budget(self) -> tuple[dict[str, int], float]:
        """The timeout budget spent so far (``timeout_for``): timeouts per name, seconds lost."""
        if self._parent is not None:
            return self._parent.budget()
        return dict(self.timeouts), self.time_lost

    def restore_budget(self, spent: tuple[dict[str, int], float]) -> None:
        """Set the spent budget to what ``budget`` returned (a sharded grading,
        grader.grading.shard)."""
        if self._parent is not None:
            self._parent.restore_budget(spent)
            return
        self.timeouts, self.time_lost = dict(spent[0]), spent[1]

    # lifecycle

    def start(self) -> Sandbox:
        for name, text in self.sources.items():
            path = self.scratch / name
            path.write_text(text, encoding="utf-8")
            path.chmod(0o644)
        off = self.disabled
        root = running_as_root()
        cfg: dict[str, Any] = {
            "scratch": str(self.scratch),
            "modules": list(
                self.modules
                if self.modules is not None
                else [n.removesuffix(".py") for n in self.sources if n.endswith(".py")]
            ),
            "torch": self.torch,
            "limits": {} if "rlimits" in off else self._rlimits(),
            "seccomp": "seccomp" not in off,
            # Not root: a user namespace of our own makes the other two possible.
            "userns": not root and "userns" not in off,
            "netns": "netns" not in off and (root or "userns" not in off),
            "mountns": "mountns" not in off and (root or "userns" not in off),
            "landlock": "landlock" not in off,
            # Never part of the allowlist, even where a folder above them is
            # (grader.sandbox.filesystem).
            "deny": [str(p) for p in pack.trusted_dirs()],
            "gpu": self.torch and nvidia_driver(),
        }
        for layer in sorted(off):
            self.layers[layer] = f"disabled ({UNSAFE_DISABLE})"
        if root and "uid" not in off:
            self._slot = _Slot.acquire()
            cfg["uid"] = cfg["gid"] = self._slot.uid
            os.chown(self.scratch, self._slot.uid, self._slot.uid)
            # Which slot it got depends on the other gradings running: not in the results
            # (a regrade must give the same results.json), only that it is its own.
            self.layers["user"] = OWN_UID
        elif not root:
            self.layers["user"] = "unavailable (not root)"
        self.scratch.chmod(0o700)
        try:
            if self.mother is not None:
                self._ctrl, self._pid = self.mother.fork_zygote(cfg)
            else:
                cfg["marker"] = self._marker
                self._ctrl, self._proc = _spawn(cfg, self.scratch, self.limits.start_timeout)
                self._pid = self._proc.pid
        except (TimeoutError, OSError, ValueError) as exc:
            self.close()
            raise SandboxError(f"the worker did not start: {exc}") from exc
        # The zygote imports numpy and torch (~1.5 s) while the grader imports and collects
        # the suites on the other core; its hello is awaited by the first worker().
        self._starting = True
        if (
            self.torch
            and self.lean
            and self._parent is None
            and lean_eligible(self.sources, self.torch_files)
        ):
            self._start_lean()
        return self

    @property
    def scratches(self) -> tuple[Path, ...]:
        """The scratch directories of this sandbox's zygotes (the student's files in each)."""
        return (self.scratch,) + ((self._lean.scratch,) if self._lean is not None else ())

    def _start_lean(self) -> None:
        """A zygote without torch for the other modules' tests: forking a worker from one
        with torch costs ~24 ms of CPU, from one without ~11 ms (most tests never touch it)."""
        lean = Sandbox(
            self.sources,
            limits=self.limits,
            torch=False,
            disabled=self.disabled,
            lean=False,
            mother=self.mother.lean if self.mother is not None else None,
            modules=self.modules,
        )
        lean._parent = self
        try:
            lean.start()
        except SandboxError:
            self.layers["lean"] = "unavailable (its zygote did not start)"
            return
        self._lean = lean

    def ready(self) -> Sandbox:
        """Wait for the zygote's hello; SandboxError (remembered in ``failed``) if it never came."""
        if self.failed is not None:
            raise SandboxError(self.failed)
        if not self._starting:
            return self
        self._starting = False
        hello: dict[str, Any] = {}
        try:
            if self._ctrl is not None:
                hello = json.loads(self._ctrl.recv(1 << 16) or b"{}")
        except (TimeoutError, OSError, ValueError) as exc:
            self.failed = f"the worker did not start: {exc}"
        else:
            if hello.get("op") != "hello":
                self.failed = "the worker did not start (see the grader's stderr)"
        if self.failed is not None:
            raise SandboxError(self.failed)
        self.layers.update(hello.get("layers", {}))
        self.layers.setdefault("rlimits", "on")
        return self

    def _rlimits(self) -> dict[str, int]:
        lim = self.limits
        # Address space is measured over the zygote's own footprint (torch maps ~650 MB). The
        # CUDA driver reserves address space by the device's size (inaccessible, never backed)
        # and fails to start under an address-space limit of a few GiB; where the driver is
        # installed, the torch zygote's workers get the same cap on their data (the private
        # writable memory that RLIMIT_DATA counts, every numpy array included) instead.
        memory = "data" if self.torch and nvidia_driver() else "as"
        return {
            memory: lim.memory + (1536 * 2**20 if self.torch else 512 * 2**20),
            "cpu": lim.cpu,
            "fsize": lim.fsize,
            "nofile": lim.nofile,
            "nproc": lim.nproc,
            "core": 0,
        }

    def close(self) -> None:
        """Kill every process the submission started, then remove the scratch directory.

        In order: each worker's process group; the zygote's sweep of every descendant (it is a
        child subreaper, so a double-forked setsid() daemon is still its descendant); the
        zygote itself; as root, every process of the slot's uid (``kill(-1)`` as that uid);
        otherwise, every process carrying this sandbox's marker. ``survivors`` lists what is
        still alive after all that (nothing, unless the kernel refused a SIGKILL).
        """
        self._drop_lean()
        for w in list(self._workers):
            w.close()
        if self._ctrl is not None:
            if self._starting or self.failed is not None:
                # Never said hello, so it never forked a worker: nothing to sweep.
                with contextlib.suppress(OSError):
                    self._ctrl.send(b'{"op": "exit"}')
            else:
                self._goodbye(self._ctrl)
            self._ctrl.close()
            self._ctrl = None
        if self._proc is not None:
            _killpg(self._proc.pid)
            self._proc.wait()
            self._proc = None
        elif self._pid is not None and self.mother is not None:
            _killpg(self._pid)
            self.mother.reap(self._pid)
        self._pid = None
        if self._slot is not None:
            self._slot.reap()
            self.survivors += _running(_processes_of(self._slot.uid))
            if self.layers.get("mountns") != "on":
                # No read-only mounts (Gradescope's container): the slot uid could write the
                # shared directories. Only its processes can own files there, and none is left.
                _remove_files_of(self._slot.uid, keep=self.scratch)
            self._slot.release()
            self._slot = None
        elif self.mother is None:
            self.survivors += _kill_marked(f"{MARKER}={self._marker}")
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _goodbye(self, ctrl: socket.socket) -> None:
        """Ask the zygote to kill and reap everything it started, and wait until it has."""
        with self._lock:
            try:
                ctrl.settimeout(10.0)
                ctrl.send(b'{"op": "exit"}')
                ctrl.recv(1 << 16)
            except (OSError, ValueError):
                pass  # a dead or hung zygote: the uid reaper or the marker scan takes over

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # workers

    def worker(self, lean: bool = False) -> Worker:
        """A fresh worker forked from the zygote, once the gate (the canary) has passed.

        ``lean``: the caller does not need torch; the lean zygote serves it if there is one and
        it locked itself down exactly as this one (else this one does).
        """
        self._pass_gate()
        if lean and self._lean is not None and self._lean_ready():
            return self._lean._fork_worker()
        return self._fork_worker()

    def settle(self) -> None:
        """Do now what the first ``worker()`` would: pass the gate (the canary), await both
        zygotes' hellos and decide whether the lean one serves. Before the tests start, so a
        sharded grading forks with ``layers`` final (``grader.grading.shard``); a failure is kept
        (``gate_error``, ``failed``) and raised again by the first ``worker()``, as before.
        Nothing without student files: no test asks for a worker then, nor runs the canary."""
        if not any(name.endswith(".py") for name in self.sources):
            return
        with contextlib.suppress(Exception, WorkerGone):
            self._pass_gate()
            self.ready()
            if self._lean is not None:
                self._lean_ready()

    def attach(self) -> list[socket.socket]:
        """New control channels to this sandbox's zygotes (the lean one's second), for one
        process a sharded grading forks: each zygote serves it as it serves us, with a spare
        worker of its own (``grader.sandbox.worker``, ``attach``). Call ``settle`` first."""
        channels = []
        for box in (self, self._lean):
            if box is None or box._ctrl is None:
                continue
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                with box._lock:
                    socket.send_fds(box._ctrl, [b'{"op": "attach"}'], [theirs.fileno()])
            finally:
                theirs.close()
            channels.append(ours)
        return channels

    def join(self, channels: list[socket.socket]) -> None:
        """In a process a sharded grading forked: talk to the zygotes over ``channels``
        (``attach``) only. This process never closes the sandbox: the grading's own does."""
        boxes = [b for b in (self, self._lean) if b is not None and b._ctrl is not None]
        if len(boxes) != len(channels):
            raise SandboxError("a shard's channels do not match the sandbox's zygotes")
        for box, channel in zip(boxes, channels, strict=True):
            box._ctrl = channel
            box._proc = None  # not our child: only the grading's own process waits for it
            box._workers = []

    def _lean_ready(self) -> bool:
        """Whether the lean zygote may serve: checked at its first worker, then remembered."""
        if self.layers.get("lean") == "on":
            return True
        lean = self._lean
        assert lean is not None
        try:
            lean.ready()
        except SandboxError:
            ok = False
        else:
            self.ready()
            ours = {k: v for k, v in self.layers.items() if k not in _PER_ZYGOTE}
            theirs = {k: v for k, v in lean.layers.items() if k not in _PER_ZYGOTE}
            ok = ours == theirs  # the canary probed this zygote's lock-down: same or not at all
        if not ok:
            self.layers["lean"] = "unused (its zygote did not start as this one)"
            self._drop_lean()
            return False
        self.layers["lean"] = "on"
        return True

    def _drop_lean(self) -> None:
        """Close the lean zygote (if any); what it could not kill joins ``survivors``."""
        lean, self._lean = self._lean, None
        if lean is not None:
            lean.close()
            self.survivors += lean.survivors

    def _pass_gate(self) -> None:
        with self._gate_lock:
            if self.gate_error is not None:
                raise self.gate_error
            gate, self.gate = self.gate, None
            if gate is not None:
                try:
                    gate()
                except BaseException as exc:
                    self.gate_error = exc
                    raise

    def _fork_worker(self) -> Worker:
        self.ready()
        if self._ctrl is None or (self._proc is not None and self._proc.poll() is not None):
            raise SandboxError("the sandbox is not running")
        # The zygote forked this worker ahead of time (it has locked itself down meanwhile)
        # and hands over our ends of its call socket and of its stdout/stderr pipe.
        with self._lock:
            self._ctrl.send(b'{"op": "spawn"}')
            msg, fds, _flags, _addr = socket.recv_fds(self._ctrl, 1 << 16, 2)
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            raise SandboxError(f"the zygote handed over a worker without its channels: {msg!r}")
        reply = json.loads(msg)
        w = Worker(self, int(reply["pid"]), socket.socket(fileno=fds[0]), fds[1])
        self._workers.append(w)
        return w

    def _release(self, pid: int) -> None:
        """Let the zygote reap a killed worker (and sweep what it left) without waiting for it."""
        if self._ctrl is None:
            return
        with self._lock, contextlib.suppress(OSError):
            self._ctrl.send(json.dumps({"op": "release", "pid": pid}).encode())

    def _reap(self, pid: int) -> int | None:
        if self._ctrl is None:
            return None
        with self._lock:
            try:
                self._ctrl.send(json.dumps({"op": "reap", "pid": pid}).encode())
                status = json.loads(self._ctrl.recv(1 << 16)).get("status")
            except (OSError, ValueError):
                return None
        return status if isinstance(status, int) else None

    def _forget(self, w: Worker) -> None:
        with contextlib.suppress(ValueError):
            self._workers.remove(w)

    def probe(self, request: dict[str, Any]) -> dict[str, str]:
        """Run the canary probe in a fresh worker (see grader.sandbox.canary)."""
        w = self._fork_worker()
        try:
            return dict(w.request({"op": "probe"}, {"value": request}))
        finally:
            w.close()


#: Layers that name the zygote itself, not how its workers are locked down.
_PER_ZYGOTE = frozenset({"user", "torch", "lean", "canary"})


def landlock_expected(disabled: frozenset[str]) -> bool:
    """Whether workers restrict themselves with Landlock: the kernel has it and ``disabled``
    (``GRADER_UNSAFE_DISABLE``) does not name it."""
    from grader.sandbox import landlock

    return "landlock" not in disabled and landlock.abi()[0] > 0


def nvidia_driver() -> bool:
    """Whether NVIDIA's kernel driver is loaded here (the only way CUDA can be available)."""
    return os.path.exists("/proc/driver/nvidia/version")


def lean_eligible(sources: dict[str, str], torch_files: tuple[str, ...]) -> bool:
    """Only the ``torch_files`` use torch: the other modules' calls can do without it.

    "Uses": its code (not a docstring or comment: the stubs' docstrings name torch.optim) has
    the word torch in a name, attribute, import or string. A module that cannot be parsed, or
    that hides the name (``importlib.import_module("to" + "rch")``), still works in a lean
    worker: it imports torch there, slowly.
    """
    if not any(name in sources for name in torch_files):
        return False
    return not any(
        _mentions_torch(text)
        for name, text in sources.items()
        if name not in torch_files and name.endswith(".py")  # data files are not code
    )


def _mentions_torch(source: str) -> bool:
    import ast

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True  # the torch zygote, as before; the import fails there just the same
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and "torch" in node.id:
            return True
        if isinstance(node, ast.Attribute) and "torch" in node.attr:
            return True
        if isinstance(node, ast.alias) and "torch" in f"{node.name} {node.asname}":
            return True
        if isinstance(node, ast.ImportFrom) and "torch" in (node.module or ""):
            return True
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and "torch" in node.value
            and id(node) not in docstrings
        ):
            return True
    return False


def _spawn(
    cfg: dict[str, Any], cwd: Path, timeout: float
) -> tuple[socket.socket, subprocess.Popen[bytes]]:
    """Start ``python -I -m grader.sandbox.worker`` with a control socket; send it ``cfg``.

    ``cfg["marker"]`` goes into its environment, and so into every process it forks.
    """
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    proc = subprocess.Popen(
        [sys.executable, "-I", "-m", "grader.sandbox.worker", str(theirs.fileno())],
        pass_fds=[theirs.fileno()],
        cwd=cwd,
        env={**worker_env(cwd), MARKER: str(cfg.get("marker", ""))},
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    theirs.close()
    ours.settimeout(timeout)
    ours.send(json.dumps(cfg).encode())
    return ours, proc


class Mother:
    """A warm worker process (numpy and torch imported) that forks one zygote per sandbox.

    Batch grading starts one per job slot, so a submission costs a fork instead of an
    interpreter start and a torch import. It never runs student code itself. A torch mother
    keeps a ``lean`` one (numpy only) beside it for the sandboxes' lean zygotes, which would
    otherwise each start an interpreter (``Sandbox._start_lean``).
    """

    def __init__(
        self,
        torch: bool = True,
        timeout: float = DEFAULT_LIMITS.start_timeout,
        marker: str | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._home = Path(tempfile.mkdtemp(prefix="grader-mother-"))
        #: in the environment of the mothers and every process they fork (``marked_processes``)
        self.marker = marker or f"{MARKER}={secrets.token_hex(8)}"
        cfg = {"mother": True, "torch": torch, "marker": self.marker.split("=", 1)[1]}
        self._ctrl, self._proc = _spawn(cfg, self._home, timeout)
        self.pid = self._proc.pid
        self.lean: Mother | None = None
        if torch:
            try:
                self.lean = Mother(torch=False, timeout=timeout, marker=self.marker)
            except (SandboxError, OSError, ValueError):
                self.lean = None  # the lean zygotes start their own interpreters, as without
        hello = json.loads(self._ctrl.recv(1 << 16) or b"{}")
        if hello.get("op") != "hello":
            self.close()
            raise SandboxError("the warm worker did not start")
        self.layers: dict[str, str] = hello.get("layers", {})

    def fork_zygote(self, cfg: dict[str, Any]) -> tuple[socket.socket, int]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with self._lock:
            try:
                msg = json.dumps({"op": "zygote", "cfg": cfg}).encode()
                socket.send_fds(self._ctrl, [msg], [theirs.fileno()])
                reply = json.loads(self._ctrl.recv(1 << 16))
            finally:
                theirs.close()
        ours.settimeout(self._ctrl.gettimeout())
        return ours, int(reply["pid"])

    def reap(self, pid: int) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._ctrl.send(json.dumps({"op": "reap", "pid": pid}).encode())
            self._ctrl.recv(1 << 16)

    @property
    def pids(self) -> tuple[int, ...]:
        """The mothers' own processes (this one and its lean one)."""
        return (self.pid,) + (self.lean.pids if self.lean is not None else ())

    def alive(self) -> bool:
        return self._proc.poll() is None and (self.lean is None or self.lean.alive())

    def close(self) -> None:
        if self.lean is not None:
            self.lean.close()
        with contextlib.suppress(OSError):
            self._ctrl.send(b'{"op": "exit"}')
        self._ctrl.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _killpg(self._proc.pid)
            self._proc.wait()
        shutil.rmtree(self._home, ignore_errors=True)


def worker_env(scratch: Path) -> dict[str, str]:
    """A scrubbed environment: nothing of the grader's (tokens, CI, paths) reaches the worker."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
        # One thread each: forking after BLAS/OpenMP start their pools is unsafe, and the
        # per-uid process limit counts threads.
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    for key in ("CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


# -- one worker (one test) -----------------------------------------------------------------------


class Worker:
    """A proxy to one forked worker process."""

    def __init__(self, sandbox: Sandbox, pid: int, sock: socket.socket, out_fd: int) -> None:
        self.sandbox = sandbox
        self.pid = pid
        self.sock = sock
        self.gone: WorkerGone | None = None
        self.output = _BoundedOutput(out_fd, sandbox.limits)
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN)
        self._poll.register(out_fd, select.POLLIN)
        self._fns: dict[int, Callable[..., Any]] = {}
        self._next_fid = 0
        self._next_id = 0
        self.calls = 0

    # values

    def _register(self, fn: Callable[..., Any]) -> int:
        self._next_fid += 1
        fid = self._next_fid
        self._fns[fid] = fn
        return fid

    def _remote(self, fid: int) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            return self.request({"op": "call_fn", "fn": fid}, {"args": args, "kwargs": kwargs})

        return call

    # calls

    def call(
        self,
        module: str,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        standins: dict[str, Callable[..., Any]] | None = None,
    ) -> Any:
        header = {"op": "call", "module": module, "name": name}
        values = {"args": args, "kwargs": kwargs, "standins": standins or {}}
        return self.request(header, values)

    def torch_op(self, module: str, name: str, value: dict[str, Any]) -> dict[str, Any]:
        result = self.request({"op": "torch", "module": module, "name": name}, {"value": value})
        if not isinstance(result, dict):
            raise WorkerGone("the worker answered a torch operation with a malformed reply")
        return result

    def request(self, header: dict[str, Any], values: dict[str, Any]) -> Any:
        if self.gone is not None:
            raise self.gone
        self._next_id += 1
        cid = self._next_id
        self.calls += 1
        first_fid = self._next_fid + 1
        try:
            return self._request(cid, header, values)
        finally:
            # A handle (a reference stand-in, a callable argument) lives as long as the call it
            # was sent with: one stashed by the student and called later finds nothing here.
            for fid in range(first_fid, self._next_fid + 1):
                self._fns.pop(fid, None)

    def _request(self, cid: int, header: dict[str, Any], values: dict[str, Any]) -> Any:
        try:
            frame = protocol.encode({**header, "id": cid}, values, self._register)
            protocol.send(self.sock, frame)
        except OSError:
            raise self._die(None) from None
        name = str(header.get("name", header["op"]))
        limit = self.sandbox.timeout_for(name)
        deadline = time.monotonic() + limit
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._die(self.sandbox.timed_out(name, limit))
            if not self._wait_for_reply(remaining):
                continue
            self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                reply, body = protocol.recv(self.sock)
            except TimeoutError:
                continue
            except protocol.Closed:
                raise self._die(None) from None
            except (protocol.ProtocolError, OSError) as exc:
                raise self._die(messages.BAD_REPLY.format(detail=exc)) from None
            dec = protocol.Decoder(body, self._remote)
            op = reply.get("op")
            try:
                if op == "callback":
                    paused = time.monotonic()
                    self._answer_callback(reply, dec)
                    deadline += time.monotonic() - paused
                    continue
                if reply.get("id") != cid:
                    raise protocol.ProtocolError(f"reply to an unknown call {reply.get('id')!r}")
                if op == "return":
                    return dec.value(reply.get("value"))
                if op == "error":
                    raise StudentError(
                        str(reply.get("type", "Exception")),
                        str(reply.get("message", "")),
                        str(reply.get("traceback", "")),
                        str(reply.get("available", "")),
                    )
                raise protocol.ProtocolError(f"unknown reply {op!r}")
            except protocol.ProtocolError as exc:
                raise self._die(messages.BAD_REPLY.format(detail=exc)) from None

    def _answer_callback(self, reply: dict[str, Any], dec: protocol.Decoder) -> None:
        cid = reply.get("id")
        fn = self._fns.get(reply.get("fn"))  # type: ignore[arg-type]
        if fn is None:
            frame = protocol.encode({"op": "raise", "id": cid, "message": messages.EXPIRED}, {})
            try:
                protocol.send(self.sock, frame)
            except OSError:
                raise self._die(None) from None
            return
        args = dec.value(reply.get("args"))
        kwargs = dec.value(reply.get("kwargs"))
        if not isinstance(args, tuple) or not isinstance(kwargs, dict):
            raise protocol.ProtocolError("malformed callback arguments")
        try:
            result = fn(*args, **kwargs)
        except WorkerGone:
            raise
        except Exception as exc:
            frame = protocol.encode({"op": "raise", "id": cid, "message": str(exc)[:2000]}, {})
        else:
            try:
                frame = protocol.encode({"op": "return", "id": cid}, {"value": result})
            except protocol.Unencodable as exc:
                frame = protocol.encode({"op": "raise", "id": cid, "message": str(exc)}, {})
        try:
            protocol.send(self.sock, frame)
        except OSError:
            raise self._die(None) from None

    def _wait_for_reply(self, timeout: float) -> bool:
        """Read what the worker prints until its reply starts to arrive (True) or time is up.

        Reading its output here, not in a thread, means that when a reply is in, everything
        printed before it (the worker flushes first) has been read or is in the pipe.
        """
        root = self.sandbox._parent or self.sandbox
        if root.abandon is not None:
            if root.abandon():
                # A shard's test that runs again later: no use waiting (a loop would spin on).
                raise self._die(messages.WORKER_CLOSED)
            timeout = min(timeout, 0.1)
        for fd, _event in self._poll.poll(max(int(timeout * 1000), 1)):
            if fd == self.output.fd:
                if not self.output.read_available():
                    self._poll.unregister(fd)  # closed: it died, or closed its stdout
                if self.output.flooded:
                    raise self._die(None)
            else:
                return True
        return False

    # death

    def _kill(self) -> None:
        _killpg(self.pid)

    def _die(self, reason: str | None) -> WorkerGone:
        """Kill the worker, find out why it is gone, and remember it for later calls."""
        self._kill()
        status = self.sandbox._reap(self.pid)
        self.output.finish()  # it is dead: what it printed is all in the pipe
        self.output.close()
        if self.output.flooded:
            reason = messages.OUTPUT_FLOOD.format(limit=_size(self.sandbox.limits.output))
        if reason is None:
            reason = messages.describe_exit(status, self.sandbox.limits)
        self.gone = WorkerGone(reason)
        self.sock.close()
        self.sandbox._forget(self)
        return self.gone

    def close(self) -> None:
        if self.gone is None:
            # Between calls the worker only waits for the next one, and it flushed its output
            # before its last reply: the pipe holds everything, so read it, then kill.
            self.output.finish()
            self._kill()
            self.sock.close()
            self.sandbox._release(self.pid)
            self.gone = WorkerGone(messages.WORKER_CLOSED)
        self.output.close()
        self.sandbox._forget(self)


class _BoundedOutput:
    """A worker's stdout+stderr: keeps the first and the last ``limit / 2`` bytes, marks a flood
    past 20x ``limit``; never parsed.

    The head shows what the student printed first (often the line they meant to see), the tail
    what came last before the failure (issue 14): a print in a loop no longer hides the end.
    """

    def __init__(self, fd: int, limits: Limits) -> None:
        self.fd = fd
        os.set_blocking(fd, False)
        self._head_size = limits.output // 2
        self._tail_size = limits.output - self._head_size
        self._kill_at = limits.output * limits.output_kill
        self._head = bytearray()
        self._tail = bytearray()  # the last ``_tail_size`` bytes after the head
        self.total = 0
        self.flooded = False
        self._closed = False

    def read_available(self) -> bool:
        """Read what is in the pipe now; False once it is closed at the other end (or by us)."""
        while not self._closed:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                return False
            self.total += len(chunk)
            room = self._head_size - len(self._head)
            if room > 0:
                self._head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self._tail += chunk
                if len(self._tail) > self._tail_size:
                    del self._tail[: len(self._tail) - self._tail_size]
            if self.total > self._kill_at:
                self.flooded = True
                return True
        return False

    def finish(self) -> None:
        """Read what is left (no waiting: a daemon it started may hold the pipe open)."""
        self.read_available()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(OSError):
                os.close(self.fd)

    def text(self) -> str:
        """What the student printed: sanitized, never parsed; a cut middle says how much."""
        kept = len(self._head) + len(self._tail)
        if self.total <= kept:
            return messages.sanitize(bytes(self._head + self._tail))
        cut = messages.OUTPUT_CUT.format(
            cut=_size(self.total - kept), total=_size(self.total), kept=_size(len(self._tail))
        )
        return messages.sanitize(bytes(self._head)) + cut + messages.sanitize(bytes(self._tail))


def _killpg(pid: int) -> None:
    # Each worker is a session leader, so its process group holds everything it started
    # (a setsid() daemon escapes this; the uid reaper at the end of grading catches it).
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


def _size(n: int) -> str:
    if n < 2**10:
        return f"{n} bytes"
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


# -- sandbox users (root only) ------------------------------------------------------------------


class _Slot:
    """An exclusive sandbox uid, held by an flock for as long as a sandbox uses it."""

    def __init__(self, index: int, fd: int) -> None:
        self.index = index
        self.uid = SLOT_UID + index
        self._fd = fd

    @classmethod
    def acquire(cls) -> _Slot:
        SLOT_LOCKS.mkdir(mode=0o700, exist_ok=True)
        for index in range(SLOTS):
            fd = os.open(SLOT_LOCKS / f"slot-{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            slot = cls(index, fd)
            slot.reap()  # leftovers of a grader that was killed
            return slot
        raise SandboxError(f"all {SLOTS} sandbox users are busy")

    def reap(self) -> None:
        """Kill every process of the slot's uid: daemons that escaped their process group.

        A killed process may take a while to be gone (a torch worker freeing its memory on a
        loaded machine): a few more rounds, a few milliseconds apart, before giving up.
        """
        for attempt in range(40):
            if attempt >= 3:
                time.sleep(0.005 * attempt)
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the forked reaper
                try:
                    os.setgid(self.uid)
                    os.setuid(self.uid)
                    # kill(-1) as this uid reaches every process of this uid, and only those.
                    os.kill(-1, signal.SIGKILL)
                except BaseException:
                    pass
                os._exit(0)
            os.waitpid(pid, 0)
            if not _running(_processes_of(self.uid)):  # a zombie runs nothing
                return

    def release(self) -> None:
        os.close(self._fd)


#: Directories any user may write: where a sandbox uid without the mount namespace leaves files.
SHARED_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


def _remove_files_of(uid: int, keep: Path) -> None:
    """Remove what ``uid`` left at the top of the shared directories (with what is under it)."""
    for top in SHARED_DIRS:
        try:
            entries = list(os.scandir(top))
        except OSError:
            continue
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.path == str(keep) or entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)


def _running(pids: list[int]) -> list[int]:
    """Those of ``pids`` that are neither gone nor zombies (a zombie runs nothing)."""
    alive = []
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
            if state not in (b"Z", b"X"):
                alive.append(pid)
    return alive


def _marked(marker: str) -> list[int]:
    """Processes whose initial environment holds ``marker`` (readable: our uid, or root)."""
    needle = marker.encode() + b"\0"
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        with contextlib.suppress(OSError):
            if needle in (entry / "environ").read_bytes():
                found.append(int(entry.name))
    return _running(found)


def _kill_marked(marker: str) -> list[int]:
    """Without root (no uid of its own to kill): kill what carries the sandbox's marker."""
    for _ in range(20):
        pids = _marked(marker)
        if not pids:
            return []
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)
    return _marked(marker)


def _processes_of(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
    return pids


def live_processes(uid: int) -> list[int]:
    """Processes of a sandbox uid still alive (tests assert none survive a grading)."""
    return _running(_processes_of(uid))


def marked_processes(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (``Mother.marker``, for instance)."""
    return _marked(marker)


@contextlib.contextmanager
def sandbox(sources: dict[str, str], **kwargs: Any) -> Iterator[Sandbox]:
    box = Sandbox(sources, **kwargs)
    box.start()
    try:
        yield box
    finally:
        box.close()
