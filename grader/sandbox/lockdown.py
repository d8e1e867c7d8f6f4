"""A forked worker locks itself down before it serves: its own session, a fresh work dir, rlimits,
the sandbox uid, Landlock, seccomp, and an import finder that serves only the student's modules.

Runs in the child ``grader.sandbox.worker``'s zygote forks; never in the trusted process.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import resource
import signal
import socket
import sys
import traceback
import types
from collections.abc import Sequence
from typing import Any

from grader.sandbox import filesystem, landlock, protocol, serve
from grader.sandbox.serve import Worker

CLONE_THREAD = 0x00010000
_PR_SET_NAME = 15
_libc = ctypes.CDLL(None, use_errno=True)

#: What ``ps -e``, ``top`` and /proc/PID/comm show for the sandbox's processes. Under
#: ``grader.prefork`` every one of them has the grader's command line (they are forks of it), so
#: the name is how a person, or the Gradescope simulator's OOM report, tells them apart.
NAMES = {"mother": b"grader-mother", "zygote": b"grader-zygote", "worker": b"grader-worker"}


def name(role: str) -> None:
    """Name this process (and the children it forks) for its ``role`` in ``NAMES``."""
    _libc.prctl(_PR_SET_NAME, ctypes.c_char_p(NAMES[role]), 0, 0, 0)


def _drop_capabilities() -> None:
    """Empty effective, permitted and inheritable sets (capset v3), as a setuid() from root does."""
    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


# -- child: lock down ----------------------------------------------------------------------------


def _child(
    cfg: dict[str, Any],
    rules: _Filter | None,
    ruleset: landlock.Ruleset | None,
    codes: dict[str, types.CodeType],
    rpc_fd: int,
    out_fd: int,
) -> None:
    code = 70
    try:
        name("worker")
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.close(out_fd)
        os.close(devnull)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        uid = cfg.get("uid") if os.getuid() == 0 else None
        if cfg["tree"]:
            work = os.path.join(cfg["scratch"], filesystem.WORK)
            filesystem.fresh_work_dir(work, uid, cfg["limits"].get("fsize", 16 * 2**20))
        else:
            work = filesystem.own_work_dir(cfg["scratch"], uid)
        os.environ["HOME"] = os.environ["TMPDIR"] = work
        if cfg.get("userns"):
            _drop_capabilities()
        _limits(cfg["limits"])
        if uid is not None:
            os.setgroups([])
            os.setgid(cfg["gid"])
            os.setuid(uid)
        if ruleset is not None:
            filesystem.confine(ruleset, work)
        if rules is not None:
            rules.load(os.getpid())
        sys.path.append(cfg["scratch"])
        sys.meta_path.insert(0, _StudentFinder(cfg["scratch"], codes))
        sys.dont_write_bytecode = True
        Worker(socket.socket(fileno=rpc_fd)).serve()
        code = 0
    except BaseException as exc:
        _last_word(rpc_fd, exc)
    finally:
        os._exit(code)


def _last_word(rpc_fd: int, exc: BaseException) -> None:
    """Tell the trusted side why this worker stops, on its socket: the traceback is the
    grader's, for staff (``extra_data``), never printed where the student's output is read
    (issue 29: it showed the grader's paths, and the exit read as the student's exit())."""
    with contextlib.suppress(BaseException):
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        header = {"op": "fatal", "type": type(exc).__name__, "traceback": text[-8000:]}
        view = memoryview(protocol.encode(header, {}))
        while view:
            view = view[os.write(rpc_fd, view) :]


def reseed() -> None:
    """Fresh entropy (128 bits from the kernel) for numpy's global RandomState, in the zygote
    just before it forks a worker: unseeded ``np.random`` calls are not the same in every
    worker, as Python's ``random`` is reseeded in a forked child by the interpreter itself.

    Here rather than in the worker: ``seed()`` there built a ``SeedSequence``, ~0.5 ms of each
    worker's ~5 ms (cold code, pages copied on first write); seeding the state from an array in
    the zygote is ~10 us warm. Measured with a lean zygote, 300 workers: ~4.9 -> ~4.5 ms of CPU a
    worker, zygote and worker together."""
    random = sys.modules.get("numpy.random")
    if random is not None:
        import numpy

        random.seed(numpy.frombuffer(os.urandom(16), dtype=numpy.uint32))


def _limits(limits: dict[str, int]) -> None:
    names = {
        "as": resource.RLIMIT_AS,
        "data": resource.RLIMIT_DATA,
        "cpu": resource.RLIMIT_CPU,
        "fsize": resource.RLIMIT_FSIZE,
        "nofile": resource.RLIMIT_NOFILE,
        "nproc": resource.RLIMIT_NPROC,
        "core": resource.RLIMIT_CORE,
    }
    for key, value in limits.items():
        # CPU: soft limit sends SIGXCPU (catchable), hard limit one second later kills.
        hard = value + 1 if key == "cpu" else value
        resource.setrlimit(names[key], (value, hard))


def _rules(sc: Any, me: int) -> Any:
    """The workers' seccomp filter (libseccomp's, not yet loaded) for the worker whose pid is
    ``me``: no network or sockets, no new processes or programs, no signals to anyone but
    ourselves, no looking into other processes, no changing what is mounted."""
    f = sc.SyscallFilter(defaction=sc.ALLOW)

    def deny(err: int, call: str, *args: Any) -> None:
        # EINVAL: a call this (older) libseccomp does not know; the canary judges the effects.
        with contextlib.suppress(OSError):
            f.add_rule(sc.ERRNO(err), call, *args)

    # The worker talks over the socketpair it inherited; it never needs to create a socket
    # (AF_UNIX included: no docker.sock, D-Bus or other local service).
    for call in ("socket", "socketpair"):
        deny(errno.EACCES, call)
    for call in ("fork", "vfork", "execve", "execveat", "ptrace", "inotify_add_watch"):
        deny(errno.EPERM, call)
    for call in (
        "unshare",
        "setns",
        "mount",
        "umount2",
        "pivot_root",
        "chroot",
        "open_tree",
        "move_mount",
        "fsopen",
        "fsmount",
        "fspick",
        "mount_setattr",
        "tkill",
        "process_vm_readv",
        "process_vm_writev",
        "pidfd_open",
        "pidfd_getfd",
        "pidfd_send_signal",
        "kcmp",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "keyctl",
        "add_key",
        "request_key",
    ):
        deny(errno.EPERM, call)
    # Threads are clone(CLONE_THREAD); processes are clone without it.
    deny(errno.EPERM, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
    # glibc falls back from clone3 to clone only on ENOSYS (research: EPERM breaks threading).
    deny(errno.ENOSYS, "clone3")
    for call in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
        deny(errno.EPERM, call, sc.Arg(0, sc.NE, me))
    return f


def _bpf(sc: Any, me: int) -> bytes:
    """``_rules(sc, me)`` compiled to a classic BPF program (struct sock_filter[], host order)."""
    fd = os.memfd_create("seccomp")
    try:
        with open(fd, "w+b", closefd=False) as f:
            _rules(sc, me).export_bpf(f)
            f.seek(0)
            return f.read()
    finally:
        os.close(fd)


#: Pids no process can have (pid_max is at most 2**22): ``_Filter`` builds the program with
#: them and finds where the pid went.
_PID_MARKS = (0x7FFF_FF01, 0x7FFF_FF02)
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class _Filter:
    """The workers' seccomp program, built once by the zygote, loaded by every worker.

    libseccomp takes ~1.8 ms to build the filter, which every worker paid; the programs of two
    workers differ only in the one pid each may signal. The zygote compiles the rules for two
    pids no process has, checks that the programs differ only in the 32-bit constants that hold
    them, and each worker writes its own pid there and loads the program itself (no_new_privs,
    then PR_SET_SECCOMP: what ``seccomp_load`` does with libseccomp's default attributes).
    Where the check fails, each worker builds its own filter with libseccomp, as before.
    """

    def __init__(self, sc: Any, program: bytes | None, slots: tuple[int, ...]) -> None:
        self.sc, self.program, self.slots = sc, program, slots

    @classmethod
    def build(cls, sc: Any) -> _Filter:
        try:
            a, b = (_bpf(sc, mark) for mark in _PID_MARKS)
        except Exception:
            return cls(sc, None, ())
        slots = _pid_slots(a, b)
        return cls(sc, a if slots else None, slots)

    def for_pid(self, pid: int) -> bytes:
        assert self.program is not None
        program = bytearray(self.program)
        for at in self.slots:
            program[at + 4 : at + 8] = pid.to_bytes(4, sys.byteorder)
        return bytes(program)

    def load(self, pid: int) -> None:
        if self.program is None:
            _rules(self.sc, pid).load()
            return
        program = ctypes.create_string_buffer(self.for_pid(pid), len(self.program))
        fprog = _SockFprog(len(self.program) // 8, ctypes.addressof(program))
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


def _pid_slots(a: bytes, b: bytes) -> tuple[int, ...]:
    """Offsets of the instructions whose constant is the first mark in ``a`` and the second in
    ``b``, where nothing else differs; () when the two programs differ in any other way."""
    if len(a) != len(b) or not a or len(a) % 8:
        return ()
    slots = []
    for at in range(0, len(a), 8):
        x, y = a[at : at + 8], b[at : at + 8]
        if x == y:
            continue
        kx, ky = (int.from_bytes(i[4:8], sys.byteorder) for i in (x, y))
        if x[:4] != y[:4] or (kx, ky) != _PID_MARKS:
            return ()
        slots.append(at)
    return tuple(slots)


def _compile_sources(folder: str) -> dict[str, types.CodeType]:
    """The student's modules compiled (not run) once by the zygote, for every worker to execute.

    Each worker compiled them again, without a bytecode cache (~1.5 ms of its first call). A
    file that does not compile is left out: the worker that imports it reports the error, as
    before. The trusted side compiled them already (``grader.grading.submission``): no new risk
    here.
    """
    codes = {}
    for name in serve.STUDENT_MODULES:
        path = os.path.join(folder, f"{name}.py")
        try:
            with open(path, "rb") as f:
                codes[name] = compile(f.read(), path, "exec", dont_inherit=True)
        except Exception:
            continue
    return codes


class _CompiledLoader(importlib.machinery.SourceFileLoader):
    """A student file's loader whose code the zygote compiled (source and path as usual)."""

    def __init__(self, fullname: str, path: str, code: types.CodeType) -> None:
        super().__init__(fullname, path)
        self._code = code

    def get_code(self, fullname: str) -> types.CodeType:
        return self._code


class _StudentFinder(importlib.abc.MetaPathFinder):
    """The student module names resolve to the scratch directory and nowhere else."""

    def __init__(self, scratch: str, codes: dict[str, types.CodeType]) -> None:
        self._path = [scratch]
        self._codes = codes

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in serve.STUDENT_MODULES:
            return None
        code = self._codes.get(fullname)
        if code is not None:
            loader = _CompiledLoader(fullname, code.co_filename, code)
            return importlib.util.spec_from_file_location(fullname, code.co_filename, loader=loader)
        spec = importlib.machinery.PathFinder.find_spec(fullname, self._path)
        if spec is None:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return spec
