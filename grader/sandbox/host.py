"""The trusted side of the trust boundary: start, drive and kill the untrusted worker.

(Over 500 lines on purpose: it is the life cycle of one object, a submission's zygotes, whose
state every step shares: start, the lean second zygote, the gate, settling, forking workers,
timeouts, close and the sweep; the limits, the channel to one worker and the slots are their
own modules.)

A ``Sandbox`` owns one zygote process (``grader.sandbox.worker``) for one submission;
``Sandbox.worker()`` forks a fresh, locked-down worker from it (one per test, so module-level
state cannot leak between tests). A ``Worker`` (``grader.sandbox.channel``) proxies calls:
arguments go out as copies, values come back decoded by ``grader.sandbox.protocol`` (never
unpickled), callables stay here as handles the worker calls back.

Failures of student code reach the tests as two exception types:

* ``StudentError`` (an ``Exception``): the student's function raised; the worker is still fine.
* ``WorkerGone`` (a ``BaseException``): the worker hung, crashed, exited or flooded its output.
  It is a ``BaseException`` so that Hypothesis stops at once instead of shrinking by replaying a
  hung call (research/security.md, c.11); every later call in the same test fails the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from grader import messages
from grader.authoring import pack
from grader.sandbox import ONE_THREAD
from grader.sandbox.channel import Worker, _killpg
from grader.sandbox.layers import (
    DEFAULT_LIMITS,
    MARKER,
    OWN_UID,
    UNSAFE_DISABLE,
    Limits,
    SandboxError,
    WorkerGone,
    nvidia_driver,
    running_as_root,
    unsafe_disabled,
)
from grader.sandbox.slots import _kill_marked, _processes_of, _remove_files_of, _running, _Slot

# -- the sandbox (one per submission) -------------------------------------------------------------


class CallWatch(Protocol):
    """Told of each call of student code (``Sandbox.watch``)."""

    def started(self, name: str, limit: float) -> None: ...
    def ended(self, name: str, limit: float, used: float, timed_out: bool) -> None: ...


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
        #: told of each call of student code as it starts and ends (``CallWatch``): a sharded
        #: grading checks each test's limits against a serial run's (grader.grading.shard)
        self.watch: CallWatch | None = None
        #: a second zygote without torch, for the calls of modules that do not use it (``lean``)
        self._lean: Sandbox | None = None
        self._parent: Sandbox | None = None

    def timeout_for(self, name: str) -> float:
        """The wall-clock limit of the next call of ``name`` (see ``Limits.strikes``)."""
        if self._parent is not None:  # one budget for the grading, whichever zygote serves
            return self._parent.timeout_for(name)
        return self.limits.timeout_for(name, self.timeouts, self.time_lost)

    def timed_out(self, name: str, seconds: float) -> str:
        """Count a timeout of ``name``; the student's message for it."""
        if self._parent is not None:
            return self._parent.timed_out(name, seconds)
        self.timeouts[name] = self.timeouts.get(name, 0) + 1
        self.time_lost += seconds
        if seconds < self.limits.call_timeout:
            return messages.TIMED_OUT_AGAIN.format(seconds=seconds, full=self.limits.call_timeout)
        return messages.TIMED_OUT.format(seconds=seconds)

    def call_started(self, name: str, limit: float) -> None:
        root = self._parent or self
        if root.watch is not None:
            root.watch.started(name, limit)

    def call_ended(self, name: str, limit: float, used: float, timed_out: bool) -> None:
        """``used``: the call's wall seconds against its limit (``limit`` when it timed out)."""
        root = self._parent or self
        if root.watch is not None:
            root.watch.ended(name, limit, used, timed_out)

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
            self._slot = _Slot.acquire(self.mother.kill_uid if self.mother is not None else None)
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


class _Forked:
    """The ``Popen`` calls a mother needs (``poll``, ``wait``, ``pid``) for a forked child."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0)
            self._sleep_until_exit(left)
        return self.returncode  # type: ignore[return-value]

    def _sleep_until_exit(self, left: float | None) -> None:
        """Until the child exits (its pidfd turns readable) or ``left`` seconds pass; 5 ms
        where pidfds are not to be had (before Linux 5.3)."""
        try:
            fd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            time.sleep(0.005)
            return
        try:
            ready = select.poll()
            ready.register(fd, select.POLLIN)
            ready.poll(None if left is None else max(1, int(left * 1000)))
        finally:
            os.close(fd)


def _fork_here(cfg: dict[str, Any], cwd: Path, timeout: float) -> tuple[socket.socket, _Forked]:
    """What ``_spawn`` starts, forked from this process instead of a new interpreter.

    Only for a process that holds nothing the worker may not see: ``grader.prefork`` calls it
    in a process started with a scrubbed environment and arguments, before it has read the
    real ones, any suite or any submission. The child is left as ``_spawn``'s would be: its
    own session, the scrubbed environment, cwd, only the control socket and the standard
    streams open (stdin on /dev/null), then the worker's ``main``. Its ``sys.path`` is this
    process's, which is why the caller runs with ``python -I`` as ``_spawn``'s child does.
    """
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    env = {**worker_env(cwd), MARKER: str(cfg.get("marker", ""))}
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its behaviour is the worker's, tested as such
        code = 70
        try:
            keep = theirs.fileno()
            os.closerange(3, keep)
            os.closerange(keep + 1, 1 << 16)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.close(null)
            os.setsid()
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(env)
            from grader.sandbox import worker

            code = worker.main([str(keep)])
        finally:
            os._exit(code)
    theirs.close()
    ours.settimeout(timeout)
    ours.send(json.dumps(cfg).encode())
    return ours, _Forked(pid)


class Mother:
    """A warm worker process (numpy and torch imported) that forks one zygote per sandbox.

    Batch grading starts one per job slot, so a submission costs a fork instead of an
    interpreter start and a torch import. It never runs student code itself. A torch mother
    keeps a ``lean`` one (numpy only) beside it for the sandboxes' lean zygotes, which would
    otherwise each start an interpreter (``Sandbox._start_lean``).

    ``here``: fork it from this process (``_fork_here``, whose conditions the caller must
    meet) instead of starting an interpreter; ``lean``: the lean one to keep, already started.
    """

    def __init__(
        self,
        torch: bool = True,
        timeout: float = DEFAULT_LIMITS.start_timeout,
        marker: str | None = None,
        *,
        here: bool = False,
        lean: Mother | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._home = Path(tempfile.mkdtemp(prefix="grader-mother-"))
        #: in the environment of the mothers and every process they fork (``marked_processes``)
        self.marker = marker or f"{MARKER}={secrets.token_hex(8)}"
        #: the process that started it, the only one that may close it (a grading's shard,
        #: forked later, holds this object too)
        self._owner = os.getpid()
        cfg = {"mother": True, "torch": torch, "marker": self.marker.split("=", 1)[1]}
        self._proc: subprocess.Popen[bytes] | _Forked
        if here:
            self._ctrl, self._proc = _fork_here(cfg, self._home, timeout)
        else:
            self._ctrl, self._proc = _spawn(cfg, self._home, timeout)
        self.pid = self._proc.pid
        self.lean: Mother | None = lean
        if torch and lean is None:
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

    def kill_uid(self, uid: int) -> None:
        """Kill every process of the sandbox uid ``uid`` (``slots.kill_uid``), forked from the
        lean mother if there is one (the smallest process at hand); OSError if it is gone."""
        if self.lean is not None and self.lean.alive():
            self.lean.kill_uid(uid)
            return
        with self._lock:
            self._ctrl.send(json.dumps({"op": "kill_uid", "uid": uid}).encode())
            reply = json.loads(self._ctrl.recv(1 << 16) or b"{}")
        if reply.get("op") != "killed":
            raise OSError(f"the mother did not kill uid {uid}: {reply.get('error', 'gone')}")

    @property
    def pids(self) -> tuple[int, ...]:
        """The mothers' own processes (this one and its lean one)."""
        return (self.pid,) + (self.lean.pids if self.lean is not None else ())

    def alive(self) -> bool:
        return self._proc.poll() is None and (self.lean is None or self.lean.alive())

    def close(self) -> None:
        """Tell this mother and its lean one to exit, then wait for both: they exit (a torch
        mother's memory takes ~10 ms to free) side by side, at the end of every grading."""
        if os.getpid() != self._owner:
            return
        mothers = [m for m in (self.lean, self) if m is not None]
        for m in mothers:
            with contextlib.suppress(OSError):
                m._ctrl.send(b'{"op": "exit"}')
            m._ctrl.close()
        for m in mothers:
            try:
                m._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _killpg(m._proc.pid)
                m._proc.wait()
            shutil.rmtree(m._home, ignore_errors=True)


#: the mother ``grader.prefork`` forked for this process before it read anything of the
#: grading (``adopt``); the sandboxes that are given no mother of their own fork from it
_adopted: Mother | None = None


def adopt(mother: Mother | None) -> None:
    global _adopted
    _adopted = mother


def adopted() -> Mother | None:
    """The mother this process adopted, if it is still alive (else None: spawn a zygote)."""
    if _adopted is not None and _adopted.alive():
        return _adopted
    return None


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
        **ONE_THREAD,
    }
    for key in ("CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


@contextlib.contextmanager
def sandbox(sources: dict[str, str], **kwargs: Any) -> Iterator[Sandbox]:
    box = Sandbox(sources, **kwargs)
    box.start()
    try:
        yield box
    finally:
        box.close()
