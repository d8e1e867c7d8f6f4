"""The trusted side of the trust boundary: start, drive and kill the untrusted worker.

A ``Sandbox`` owns one zygote process (``grader.worker``) for one submission; ``Sandbox.worker()``
forks a fresh, locked-down worker from it (one per test, so module-level state cannot leak between
tests). A ``Worker`` proxies calls: arguments go out as copies, values come back decoded by
``grader.protocol`` (never unpickled), callables stay here as handles the worker calls back.

Failures of student code reach the tests as two exception types:

* ``StudentError`` (an ``Exception``): the student's function raised; the worker is still fine.
* ``WorkerGone`` (a ``BaseException``): the worker hung, crashed, exited or flooded its output.
  It is a ``BaseException`` so that Hypothesis stops at once instead of shrinking by replaying a
  hung call (research/security.md, c.11); every later call in the same test fails the same way.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
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

from grader import messages, protocol


@dataclass(frozen=True)
class Limits:
    """Resource limits of each worker; defaults are generous for this assignment's inputs."""

    call_timeout: float = 10.0  # wall-clock seconds per call (RLIMIT_CPU does not see sleeping)
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


# -- the sandbox (one per submission) -------------------------------------------------------------


@dataclass
class Sandbox:
    """Holds the student's files in a scratch directory and a zygote that forks workers."""

    sources: dict[str, str]
    limits: Limits = DEFAULT_LIMITS
    torch: bool = False
    mother: Mother | None = None  # a warm process that forks zygotes (batch grading)
    layers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.scratch = Path(tempfile.mkdtemp(prefix="grader-sub-"))
        self._slot: _Slot | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        self._ctrl: socket.socket | None = None
        self._lock = threading.Lock()
        self._workers: list[Worker] = []
        self._starting = False
        #: why the zygote failed to start, once a worker was asked for (a grader fault)
        self.failed: str | None = None

    # lifecycle

    def start(self) -> Sandbox:
        for name, text in self.sources.items():
            path = self.scratch / name
            path.write_text(text, encoding="utf-8")
            path.chmod(0o644)
        cfg: dict[str, Any] = {
            "scratch": str(self.scratch),
            "torch": self.torch,
            "limits": self._rlimits(),
            "seccomp": True,
            "netns": running_as_root(),
        }
        if running_as_root():
            self._slot = _Slot.acquire()
            cfg["uid"] = cfg["gid"] = self._slot.uid
            os.chown(self.scratch, self._slot.uid, self._slot.uid)
            self.layers["user"] = f"uid {self._slot.uid}"
        else:
            self.layers["user"] = "unavailable (not root)"
        self.scratch.chmod(0o700)
        try:
            if self.mother is not None:
                self._ctrl, self._pid = self.mother.fork_zygote(cfg)
            else:
                self._ctrl, self._proc = _spawn(cfg, self.scratch, self.limits.start_timeout)
                self._pid = self._proc.pid
        except (TimeoutError, OSError, ValueError) as exc:
            self.close()
            raise SandboxError(f"the worker did not start: {exc}") from exc
        # The zygote imports numpy and torch (~1.5 s) while the grader imports and collects
        # the suites on the other core; its hello is awaited by the first worker().
        self._starting = True
        return self

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
        self.layers["rlimits"] = "on"
        return self

    def _rlimits(self) -> dict[str, int]:
        lim = self.limits
        return {
            # Address space is measured over the zygote's own footprint (torch maps ~650 MB).
            "as": lim.memory + (1536 * 2**20 if self.torch else 512 * 2**20),
            "cpu": lim.cpu,
            "fsize": lim.fsize,
            "nofile": lim.nofile,
            "nproc": lim.nproc,
            "core": 0,
        }

    def close(self) -> None:
        for w in list(self._workers):
            w.close()
        if self._ctrl is not None:
            with contextlib.suppress(OSError):
                self._ctrl.send(b'{"op": "exit"}')
            self._ctrl.close()
            self._ctrl = None
        if self._proc is not None:
            # The zygote holds nothing worth a clean exit (it has never run student code).
            _killpg(self._proc.pid)
            self._proc.wait()
            self._proc = None
        elif self._pid is not None and self.mother is not None:
            _killpg(self._pid)
            self.mother.reap(self._pid)
        self._pid = None
        if self._slot is not None:
            self._slot.reap()
            self._slot.release()
            self._slot = None
        shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # workers

    def worker(self) -> Worker:
        """A fresh worker forked from the zygote."""
        self.ready()
        if self._ctrl is None or (self._proc is not None and self._proc.poll() is not None):
            raise SandboxError("the sandbox is not running")
        rpc_ours, rpc_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_r, out_w = os.pipe()
        with self._lock:
            try:
                socket.send_fds(self._ctrl, [b'{"op": "spawn"}'], [rpc_theirs.fileno(), out_w])
                reply = json.loads(self._ctrl.recv(1 << 16))
            finally:
                rpc_theirs.close()
                os.close(out_w)
        w = Worker(self, int(reply["pid"]), rpc_ours, out_r)
        self._workers.append(w)
        return w

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
        """Run the canary probe in a fresh worker (see grader.canary)."""
        w = self.worker()
        try:
            return dict(w.request({"op": "probe"}, {"value": request}))
        finally:
            w.close()


def _spawn(
    cfg: dict[str, Any], cwd: Path, timeout: float
) -> tuple[socket.socket, subprocess.Popen[bytes]]:
    """Start ``python -I -m grader.worker`` with a control socket; send it ``cfg``."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    proc = subprocess.Popen(
        [sys.executable, "-I", "-m", "grader.worker", str(theirs.fileno())],
        pass_fds=[theirs.fileno()],
        cwd=cwd,
        env=worker_env(cwd),
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
    interpreter start and a torch import. It never runs student code itself.
    """

    def __init__(self, torch: bool = True, timeout: float = DEFAULT_LIMITS.start_timeout) -> None:
        self._lock = threading.Lock()
        self._home = Path(tempfile.mkdtemp(prefix="grader-mother-"))
        self._ctrl, self._proc = _spawn({"mother": True, "torch": torch}, self._home, timeout)
        hello = json.loads(self._ctrl.recv(1 << 16) or b"{}")
        if hello.get("op") != "hello":
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

    def alive(self) -> bool:
        return self._proc.poll() is None

    def close(self) -> None:
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
        self.output = _BoundedOutput(out_fd, sandbox.limits, self._flooded)
        self._fns: dict[int, Callable[..., Any]] = {}
        self._next_id = 0
        self.calls = 0

    # values

    def _register(self, fn: Callable[..., Any]) -> int:
        fid = len(self._fns) + 1
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

    def torch_op(self, name: str, value: dict[str, Any]) -> dict[str, Any]:
        result = self.request({"op": "torch", "name": name}, {"value": value})
        if not isinstance(result, dict):
            raise WorkerGone("the worker answered a torch operation with a malformed reply")
        return result

    def request(self, header: dict[str, Any], values: dict[str, Any]) -> Any:
        if self.gone is not None:
            raise self.gone
        self._next_id += 1
        cid = self._next_id
        self.calls += 1
        try:
            frame = protocol.encode({**header, "id": cid}, values, self._register)
            protocol.send(self.sock, frame)
        except OSError:
            raise self._die(None) from None
        deadline = time.monotonic() + self.sandbox.limits.call_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._die(messages.TIMED_OUT.format(seconds=self.sandbox.limits.call_timeout))
            self.sock.settimeout(remaining)
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
            raise protocol.ProtocolError("callback to an unknown function")
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

    # death

    def _flooded(self) -> None:
        self._kill()

    def _kill(self) -> None:
        _killpg(self.pid)

    def _die(self, reason: str | None) -> WorkerGone:
        """Kill the worker, find out why it is gone, and remember it for later calls."""
        self._kill()
        status = self.sandbox._reap(self.pid)
        self.output.finish()
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
            with contextlib.suppress(OSError):
                self.sock.settimeout(1.0)
                protocol.send(self.sock, protocol.encode({"op": "exit"}, {}))
            self._kill()
            self.sandbox._reap(self.pid)
            self.sock.close()
            self.gone = WorkerGone(messages.WORKER_CLOSED)
        self.output.finish()
        self.sandbox._forget(self)


class _BoundedOutput:
    """Reads a worker's stdout+stderr in a thread; keeps ``limit`` bytes, kills past 20x."""

    def __init__(self, fd: int, limits: Limits, on_flood: Callable[[], None]) -> None:
        self._fd = fd
        self._keep = limits.output
        self._kill_at = limits.output * limits.output_kill
        self._on_flood = on_flood
        self._buf = bytearray()
        self.total = 0
        self.flooded = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.total += len(chunk)
            if len(self._buf) < self._keep:
                self._buf += chunk[: self._keep - len(self._buf)]
            if self.total > self._kill_at and not self.flooded:
                self.flooded = True
                self._on_flood()
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def finish(self) -> None:
        self._thread.join(timeout=2.0)

    def text(self) -> str:
        """What the student printed: sanitized, never parsed, marked when cut."""
        text = messages.sanitize(bytes(self._buf))
        if self.total > len(self._buf):
            text += messages.OUTPUT_TRUNCATED.format(total=_size(self.total))
        return text


def _killpg(pid: int) -> None:
    # Each worker is a session leader, so its process group holds everything it started
    # (a setsid() daemon escapes this; the uid reaper at the end of grading catches it).
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


def _size(n: int) -> str:
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
        """Kill every process of the slot's uid: daemons that escaped their process group."""
        for _ in range(3):
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
            if not _processes_of(self.uid):
                return

    def release(self) -> None:
        os.close(self._fd)


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
    return _processes_of(uid)


@contextlib.contextmanager
def sandbox(sources: dict[str, str], **kwargs: Any) -> Iterator[Sandbox]:
    box = Sandbox(sources, **kwargs)
    box.start()
    try:
        yield box
    finally:
        box.close()
