"""The untrusted side: a zygote that forks one sandboxed worker per test.

Run as ``python -I -m grader.sandbox.worker CTRL_FD`` by ``grader.sandbox.host``; never imported by
the trusted
side. The zygote pre-imports numpy (and torch when the submission uses it) so a fresh worker costs
a fork, not an interpreter start (security.md, c.13: ~3 ms instead of ~1.5 s with torch). Student
code runs only in the forked children, after they have locked themselves down:

    setsid -> own mount namespace + fresh tmpfs work dir (when root) -> rlimits
           -> drop to the sandbox uid (when root) -> no_new_privs + seccomp -> serve

The zygote itself never imports or runs student code, so a child can only harm itself. When root
it also unshares the network (no interface up) and the mount namespace (every mount read-only,
the student's files on a small tmpfs). It is a child subreaper: whatever a child starts, even a
double-forked ``setsid`` daemon, stays its descendant, and it kills every such orphan when the
child that started it is reaped and everything before it exits (docs/SECURITY.md).
Children answer calls over their own socket with ``grader.sandbox.protocol`` frames; callables they
receive
are handles that call back to the trusted side (so the grader counts ``f`` evaluations, and
reference stand-ins for other assignment functions never enter this process).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import resource
import select
import shutil
import signal
import socket
import sys
import time
import traceback
import types
from collections.abc import Callable, Sequence
from typing import Any

from grader.sandbox import filesystem, landlock, protocol

#: Names of the student modules (the zygote's ``modules``, from the pack's manifest): found
#: only in the scratch directory, never elsewhere. Set once per zygote, before any worker.
STUDENT_MODULES: tuple[str, ...] = ()
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
CLONE_THREAD = 0x00010000
PR_SET_CHILD_SUBREAPER = 36


# -- zygote --------------------------------------------------------------------------------------


def main(argv: Sequence[str]) -> int:
    """Serve as a zygote for one sandbox, or (``{"mother": true}``) as a mother of zygotes.

    A mother is started once per batch job slot: it pays the imports once and forks a zygote
    per submission (grader.classroom.batch), saving the ~1.5 s torch import on every submission.
    """
    ctrl = socket.socket(fileno=int(argv[0]))
    cfg = json.loads(ctrl.recv(1 << 16))
    # A container's OOM killer takes the process with the highest score first: make it a
    # worker (all inherit this), never the grader, so a student's memory hog fails its own test
    # instead of the whole run. Set here: the zygote's own mounts are read-only later.
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")
    layers = _preload(cfg)
    if cfg.get("mother"):
        ctrl.send(json.dumps({"op": "hello", "layers": layers, "pid": os.getpid()}).encode())
        return _mother(ctrl, layers)
    return _zygote(ctrl, cfg, layers)


def _preload(cfg: dict[str, Any]) -> dict[str, str]:
    layers: dict[str, str] = {}
    import numpy

    # And its random module, which a quarter of the tests' calls use: importing it (hashlib,
    # secrets, OpenSSL's library) cost each of those workers ~20 ms of CPU. Each worker gives
    # its global RandomState a fresh seed (``_reseed``), as a worker importing it did.
    import numpy.random  # noqa: F401

    if cfg.get("torch"):
        try:
            import torch

            # Not torch.fx.experimental.symbolic_shapes (sympy, ~0.3 s): the workers' backward
            # no longer imports it (``Worker.torch_op``).
            torch.set_num_threads(1)
            layers["torch"] = "loaded"
        except Exception as exc:  # the child will report the import error to the test
            layers["torch"] = f"unavailable: {exc}"
    return layers


def _mother(ctrl: socket.socket, layers: dict[str, str]) -> int:
    subreaper()
    zygotes: set[int] = set()
    try:
        while True:
            try:
                msg, fds, _flags, _addr = socket.recv_fds(ctrl, 1 << 16, 4)
            except OSError:
                return 0
            if not msg:
                return 0
            req = json.loads(msg)
            if req["op"] == "zygote":
                pid = os.fork()
                if pid == 0:
                    ctrl.close()
                    code = 70
                    try:
                        code = _zygote(socket.socket(fileno=fds[0]), req["cfg"], dict(layers))
                    finally:
                        _flush()
                        os._exit(code)
                zygotes.add(pid)
                for fd in fds:
                    os.close(fd)
                ctrl.send(json.dumps({"op": "forked", "pid": pid}).encode())
            elif req["op"] == "reap":
                status = _reap(req["pid"])
                zygotes.discard(req["pid"])
                # Orphans of a zygote that died without its own sweep were reparented here.
                killed = _sweep(keep=zygotes)
                ctrl.send(json.dumps({"op": "reaped", "status": status, "killed": killed}).encode())
            elif req["op"] == "exit":
                return 0
    finally:
        _sweep(keep=set())


def _zygote(ctrl: socket.socket, cfg: dict[str, Any], layers: dict[str, str]) -> int:
    global STUDENT_MODULES
    STUDENT_MODULES = tuple(str(m) for m in cfg.get("modules", ()))
    subreaper()
    if cfg.get("userns"):
        # Not root: a user namespace of our own gives the capabilities for the two below.
        layers["userns"] = _enter_user_namespace()
        if layers["userns"] != "on":
            for layer in ("netns", "mountns"):
                if cfg.get(layer):
                    cfg[layer] = False
                    layers[layer] = "unavailable (no user namespace)"
    if cfg.get("netns"):
        layers["netns"] = _unshare_net()
    if cfg.get("torch") and "torch" not in layers:
        layers.update(_preload(cfg))
    # Before the mount tree: finding libseccomp runs ldconfig, which the tree does not hold.
    seccomp = _load_seccomp_module()
    layers["seccomp"] = "available" if seccomp is not None else "unavailable"
    if not cfg.get("seccomp", True):
        layers["seccomp"] = "disabled"
        seccomp = None
    rules = _Filter.build(seccomp) if seccomp is not None else None
    deny = tuple(cfg.get("deny", ()))
    allowed = filesystem.allowlist(cfg["scratch"], deny, bool(cfg.get("gpu")))
    if cfg.get("mountns"):
        layers["mountns"] = filesystem.minimal_tree(cfg["scratch"], allowed, cfg.get("uid"))
    # With the mount tree each worker mounts a fresh tmpfs on scratch/work; without it each
    # makes a new directory of its own in the scratch (``filesystem.own_work_dir``).
    cfg["tree"] = layers.get("mountns") == "on"
    os.chdir(cfg["scratch"])
    ruleset = None
    if cfg.get("landlock"):
        layers["landlock"], ruleset = filesystem.build_ruleset(allowed)
    ctrl.send(json.dumps({"op": "hello", "layers": layers, "pid": os.getpid()}).encode())
    codes = _compile_sources(cfg["scratch"])
    # Live children (tests in progress, and the spares); a released or reaped one leaves.
    children: set[int] = set()
    # One control channel per trusted grading process: the grader's own, and one for each
    # process a sharded grading forks (``attach``); each has its spare worker.
    channels: dict[int, _Channel] = {ctrl.fileno(): _Channel(ctrl)}
    poller = select.poll()
    poller.register(ctrl.fileno(), select.POLLIN)
    try:
        while True:
            for ch in channels.values():
                if ch.spare is None:
                    # Fork the next test's worker now, while the grader is busy elsewhere: it
                    # locks itself down and then waits for its first call.
                    ours = [fd for c in channels.values() for fd in c.fds()]
                    ch.spare = _Spare.fork(ours, cfg, rules, ruleset, codes)
                    children.add(ch.spare.pid)
            for fd, _event in poller.poll():
                ch = channels[fd]
                try:
                    msg, fds, _flags, _addr = socket.recv_fds(ch.sock, 1 << 16, 1)
                except OSError:
                    msg, fds = b"", []
                if not msg:
                    if ch.sock is ctrl:
                        return 0
                    # A shard's process is done (or gone): its spare and channel go with it.
                    poller.unregister(fd)
                    del channels[fd]
                    ch.close(children)
                    _sweep(keep=children, wait=False)
                    continue
                req = json.loads(msg)
                op = req["op"]
                if op == "attach" and ch.sock is ctrl and len(fds) == 1:
                    new = socket.socket(fileno=fds[0])
                    channels[new.fileno()] = _Channel(new)
                    poller.register(new.fileno(), select.POLLIN)
                    continue
                for extra in fds:  # only ``attach`` carries a descriptor
                    os.close(extra)
                if op == "spawn" and ch.spare is not None:
                    ch.spare.hand_over(ch.sock)
                    ch.spare = None
                elif op == "release":
                    # The grader has killed this test's worker and does not wait for us: reap
                    # it, and kill whatever it left behind (a setsid() daemon that escaped its
                    # process group was reparented to us). Nothing of one test outlives it.
                    pid = int(req["pid"])
                    _kill_group(pid)
                    children.discard(pid)
                    _RELEASED.add(pid)
                    _sweep(keep=children, wait=False)
                    _remove_work_dirs(cfg, keep=children)
                elif op == "reap":
                    status = _reap(req["pid"])
                    children.discard(req["pid"])
                    killed = _sweep(keep=children)
                    _remove_work_dirs(cfg, keep=children)
                    reply = {"op": "reaped", "status": status, "killed": killed}
                    ch.sock.send(json.dumps(reply).encode())
                elif op == "exit" and ch.sock is ctrl:
                    killed = _sweep(keep=set())
                    ctrl.send(json.dumps({"op": "bye", "killed": killed}).encode())
                    return 0
    finally:
        _sweep(keep=set())


class _Channel:
    """A control channel of the zygote and the spare worker forked for it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.spare: _Spare | None = None

    def fds(self) -> list[int]:
        """The zygote's descriptors of this channel: no worker may inherit one."""
        spare = [self.spare.rpc.fileno(), self.spare.out] if self.spare is not None else []
        return [self.sock.fileno(), *spare]

    def close(self, children: set[int]) -> None:
        if self.spare is not None:
            _kill_group(self.spare.pid)
            children.discard(self.spare.pid)
            _RELEASED.add(self.spare.pid)
            self.spare.rpc.close()
            os.close(self.spare.out)
            self.spare = None
        self.sock.close()


def _remove_work_dirs(cfg: dict[str, Any], keep: set[int]) -> None:
    """Without the mount tree, remove the work directories of the workers that are gone: the
    next test's worker must find nothing an earlier one wrote."""
    if cfg["tree"]:
        return
    prefix = filesystem.WORK + "-"
    with contextlib.suppress(OSError), os.scandir(cfg["scratch"]) as entries:
        for entry in entries:
            pid = entry.name[len(prefix) :]
            if entry.name.startswith(prefix) and pid.isdigit() and int(pid) not in keep:
                shutil.rmtree(entry.path, ignore_errors=True)


class _Spare:
    """A worker forked ahead of its test, with the grader's ends of its two channels."""

    def __init__(self, pid: int, rpc: socket.socket, out: int) -> None:
        self.pid, self.rpc, self.out = pid, rpc, out

    @classmethod
    def fork(
        cls,
        ours: list[int],
        cfg: dict[str, Any],
        rules: _Filter | None,
        ruleset: landlock.Ruleset | None,
        codes: dict[str, types.CodeType],
    ) -> _Spare:
        rpc_ours, rpc_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_r, out_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            # No worker keeps a descriptor of its zygote's: a control channel, or the grader's
            # ends of another channel's spare worker.
            for fd in ours:
                os.close(fd)
            rpc_ours.close()
            os.close(out_r)
            _child(cfg, rules, ruleset, codes, rpc_theirs.detach(), out_w)  # never returns
        rpc_theirs.close()
        os.close(out_w)
        return cls(pid, rpc_ours, out_r)

    def hand_over(self, ctrl: socket.socket) -> None:
        msg = json.dumps({"op": "spawned", "pid": self.pid}).encode()
        socket.send_fds(ctrl, [msg], [self.rpc.fileno(), self.out])
        self.rpc.close()
        os.close(self.out)


def _kill_group(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


#: Wait statuses of kept children that a sweep reaped before they were asked for.
_EXITED: dict[int, int] = {}
#: Children the grader has let go of: their statuses are of no interest.
_RELEASED: set[int] = set()


def _reap(pid: int) -> int | None:
    if pid in _EXITED:
        return _EXITED.pop(pid)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return None
    return status


def subreaper() -> None:
    """Orphaned descendants are reparented to us instead of init, so none can get away (and a
    benchmark counts their CPU time: bench/bench_batch.py)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def children_of(root: int | None = None) -> dict[int, list[int]]:
    """The descendants of ``root`` (default: us), as parent -> children, from
    /proc/PID/task/TID/children.

    Walking down from ``root`` reads a file or two per descendant; scanning every process on
    the machine (the fallback, for kernels without CONFIG_PROC_CHILDREN) costs ~1 ms a test.
    """
    root = os.getpid() if root is None else root
    children: dict[int, list[int]] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        found: list[int] = []
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                    found.extend(int(c) for c in f.read().split())
            except FileNotFoundError:
                if pid == root:
                    return _children_by_scan()
            except (OSError, ValueError):
                continue
        if found:
            children[pid] = found
            todo.extend(found)
    return children


def _children_by_scan() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
                ppid = int(stat.rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    return children


def _sweep(keep: set[int], wait: bool = True) -> int:
    """SIGKILL and reap every descendant except the children in ``keep`` and their subtrees.

    As a subreaper we are an ancestor of everything our children ever started, so when no
    unwanted child is left, no unwanted descendant is left either. A killed process cannot fork;
    a child forked before the kill is reparented to us and found in the next round.
    ``wait=False`` makes one round only (kill, reap what is already dead): what is still dying
    is found by the next sweep, and the last one (``exit``) waits until nothing is left.
    """
    me = os.getpid()
    killed = 0
    for _ in range(200):
        tree = children_of()
        todo = [c for c in tree.get(me, []) if c not in keep]
        doomed: list[int] = []
        while todo:
            pid = todo.pop()
            doomed.append(pid)
            todo.extend(tree.get(pid, []))
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed += len(doomed)
        # Reap our own (now dead) children, zombies included; keep waiting on the kept ones.
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return killed
            if pid == 0:
                break
            if pid in _RELEASED:
                _RELEASED.discard(pid)
            elif pid in keep:
                _EXITED[pid] = status
        if not doomed or not wait:
            return killed
        time.sleep(0.001)
    return killed


def _enter_user_namespace() -> str:
    """Become "root" of a user namespace of our own, mapped to our own uid and gid.

    Only to get CAP_SYS_ADMIN over the network and mount namespaces we create next; the
    children drop every capability before student code runs (``_drop_capabilities``), and their
    uid outside stays ours. Works where unprivileged user namespaces are allowed (many laptops
    and servers; not Docker's default seccomp profile, where the grader is root anyway).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWUSER) != 0:
        return f"failed: {os.strerror(ctypes.get_errno())}"
    try:
        for name, text in (
            ("setgroups", "deny"),
            ("uid_map", f"{uid} {uid} 1"),
            ("gid_map", f"{gid} {gid} 1"),
        ):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    except OSError as exc:
        return f"failed: {exc.strerror}"
    return "on"


def _drop_capabilities() -> None:
    """Empty effective, permitted and inheritable sets (capset v3), as a setuid() from root does."""
    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def _unshare_net() -> str:
    """A private network namespace with no interfaces up: connections fail at once."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return f"failed: {os.strerror(ctypes.get_errno())}"
    return "on"


def _load_seccomp_module() -> Any:
    try:
        import pyseccomp

        pyseccomp.SyscallFilter(defaction=pyseccomp.ALLOW)  # finds libseccomp or raises
        return pyseccomp
    except Exception:
        return None


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
        _reseed()
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
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def _reseed() -> None:
    """Fresh entropy for numpy's global RandomState in this worker (the zygote imported it):
    unseeded ``np.random`` calls are not the same in every worker, as Python's ``random`` is
    reseeded in a forked child by the interpreter itself."""
    random = sys.modules.get("numpy.random")
    if random is not None:
        random.seed()


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
    for name in STUDENT_MODULES:
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
        if fullname not in STUDENT_MODULES:
            return None
        code = self._codes.get(fullname)
        if code is not None:
            loader = _CompiledLoader(fullname, code.co_filename, code)
            return importlib.util.spec_from_file_location(fullname, code.co_filename, loader=loader)
        spec = importlib.machinery.PathFinder.find_spec(fullname, self._path)
        if spec is None:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return spec


# -- child: serve calls --------------------------------------------------------------------------


class CallbackFailed(Exception):
    """A callable from the grader raised; its message is the grader's, not ours."""


class Worker:
    """Answers calls; while waiting on a callback it answers nested calls (reentrant RPC)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fns: dict[int, Callable[..., Any]] = {}
        self.next_call = 0

    # values

    def _register(self, fn: Callable[..., Any]) -> int:
        fid = len(self.fns) + 1
        self.fns[fid] = fn
        return fid

    def _remote(self, fid: int) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            return self.callback(fid, args, kwargs)

        call.__name__ = call.__qualname__ = f"grader_callable_{fid}"
        return call

    def _send(self, header: dict[str, Any], values: dict[str, Any]) -> None:
        protocol.send(self.sock, protocol.encode(header, values, self._register))

    def _recv(self) -> tuple[dict[str, Any], Any]:
        header, body = protocol.recv(self.sock)
        return header, protocol.Decoder(body, self._remote)

    # loop

    def serve(self) -> None:
        while True:
            header, dec = self._recv()
            if header.get("op") == "exit":
                return
            self.handle(header, dec)

    def callback(self, fid: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self.next_call += 1
        cid = -self.next_call
        _flush()
        self._send({"op": "callback", "id": cid, "fn": fid}, {"args": args, "kwargs": kwargs})
        while True:
            header, dec = self._recv()
            op = header.get("op")
            if op == "return" and header.get("id") == cid:
                return dec.value(header.get("value"))
            if op == "raise" and header.get("id") == cid:
                raise CallbackFailed(str(header.get("message", "")))
            self.handle(header, dec)

    def handle(self, header: dict[str, Any], dec: Any) -> None:
        op, cid = header.get("op"), header.get("id")
        try:
            if op == "call":
                result = self.call(header, dec)
            elif op == "torch":
                result = self.torch_op(header, dec)
            elif op == "call_fn":
                fn = self.fns[int(header["fn"])]
                result = fn(*dec.value(header["args"]), **dec.value(header["kwargs"]))
            elif op == "probe":
                result = probe(dec.value(header["value"]))
            else:
                raise protocol.ProtocolError(f"unknown op {op!r}")
        except BaseException as exc:  # student code may raise anything, SystemExit included
            _flush()
            self._send({"op": "error", "id": cid, **describe(exc)}, {})
            return
        _flush()
        try:
            frame = protocol.encode({"op": "return", "id": cid}, {"value": result}, self._register)
        except (protocol.Unencodable, ValueError, TypeError) as exc:
            err = {"type": "BadReturn", "message": str(exc), "traceback": ""}
            self._send({"op": "error", "id": cid, **err}, {})
            return
        protocol.send(self.sock, frame)

    def call(self, header: dict[str, Any], dec: Any) -> Any:
        module = load(str(header["module"]))
        name = str(header["name"])
        if not hasattr(module, name):
            raise MissingName(name, sorted(n for n in vars(module) if not n.startswith("_")))
        fn = getattr(module, name)
        args = dec.value(header["args"])
        kwargs = dec.value(header["kwargs"])
        standins = dec.value(header.get("standins", {"$": "dict", "v": []}))
        before = _snapshot(args, kwargs)
        with _StandIns(standins, exclude=name):
            value = fn(*args, **kwargs)
        return {"value": value, "mutated": _changed(before, args, kwargs)}

    def torch_op(self, header: dict[str, Any], dec: Any) -> Any:
        """Forward (and backward for a given upstream gradient) of a student autograd class."""
        import numpy as np
        import torch

        module = load(str(header["module"]))
        name = str(header["name"])
        if not hasattr(module, name):
            raise MissingName(name, sorted(n for n in vars(module) if not n.startswith("_")))
        cls = getattr(module, name)
        v = dec.value(header["value"])
        device = torch.device(str(v["device"]))
        inputs: list[Any] = []
        for x in v["inputs"]:
            if isinstance(x, np.ndarray) and x.dtype.kind == "f":
                inputs.append(torch.tensor(x, device=device, requires_grad=True))
            elif isinstance(x, np.ndarray):
                kind = torch.bool if x.dtype.kind == "b" else torch.long
                inputs.append(torch.tensor(x, device=device, dtype=kind))
            else:
                inputs.append(x)
        out = cls.apply(*inputs)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"{name}.apply returned {type(out).__name__}, not a tensor")
        result: dict[str, Any] = {
            "output": out.detach().cpu().numpy(),
            "output_device": str(out.device),
            "output_dtype": str(out.dtype).replace("torch.", ""),
        }
        if v.get("grad_output") is not None:
            g = torch.tensor(v["grad_output"], dtype=out.dtype, device=out.device)
            if out.dim() == 0 and g.dim() == 0:
                # The same upstream gradient reaches the student's backward (1 * g, exactly),
                # without backward(g)'s shape check, whose first use imports sympy (~0.3 s).
                (out * g).backward()  # type: ignore[no-untyped-call]
            else:  # not a scalar: backward(g) says what is wrong, as it always did
                out.backward(g)  # type: ignore[no-untyped-call]
            grads = [x.grad if isinstance(x, torch.Tensor) else None for x in inputs]
            result["grads"] = [None if d is None else d.detach().cpu().numpy() for d in grads]
            first = next(
                (x for x in inputs if isinstance(x, torch.Tensor) and x.requires_grad), None
            )
            grad = None if first is None else first.grad
            result["grad"] = None if grad is None else grad.detach().cpu().numpy()
            result["grad_device"] = None if grad is None else str(grad.device)
        return result


def _snapshot(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    named = {**{str(i): a for i, a in enumerate(args)}, **kwargs}
    return {k: np.array(v, copy=True) for k, v in named.items() if isinstance(v, np.ndarray)}


def _changed(before: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
    """Which array arguments the call modified in place (by position or keyword)."""
    import numpy as np

    named = {**{str(i): a for i, a in enumerate(args)}, **kwargs}
    return [
        k
        for k, old in before.items()
        if not (
            isinstance(named[k], np.ndarray)
            and named[k].shape == old.shape
            and np.array_equal(named[k], old, equal_nan=old.dtype.kind in "fc")
        )
    ]


class MissingName(AttributeError):
    def __init__(self, name: str, available: list[str]) -> None:
        super().__init__(name)
        self.missing = name
        self.available = available


def load(name: str) -> types.ModuleType:
    if name not in STUDENT_MODULES:
        raise protocol.ProtocolError(f"{name!r} is not a student module")
    return importlib.import_module(name)


class _StandIns:
    """Point other assignment functions at the grader's stand-ins for the length of one call.

    Only bindings that *are* the student's own definition are replaced (the defining module's
    global, and ``from layers import x`` copies of it), so a private helper that merely shares a
    name is left alone. Assignment contract 6: one bug costs points once.
    """

    def __init__(self, standins: dict[str, Any], exclude: str) -> None:
        self.standins = {k: v for k, v in standins.items() if k != exclude}
        self.saved: list[tuple[dict[str, Any], str, Any]] = []

    def __enter__(self) -> None:
        if not self.standins:
            return
        mods = [sys.modules[m] for m in STUDENT_MODULES if m in sys.modules]
        for name, standin in self.standins.items():
            originals = [vars(m)[name] for m in mods if name in vars(m)]
            if not originals:
                continue
            owner = next((m for m in mods if _defined_in(vars(m).get(name), m)), None)
            original = vars(owner)[name] if owner is not None else None
            handle = _or_own(standin, original)
            for m in mods:
                ns = vars(m)
                if name in ns and (ns[name] is original or m is owner):
                    self.saved.append((ns, name, ns[name]))
                    ns[name] = handle

    def __exit__(self, *exc: object) -> None:
        for ns, name, value in reversed(self.saved):
            ns[name] = value
        self.saved.clear()


def _or_own(standin: Any, own: Any) -> Any:
    """The stand-in, or the student's own function where the grader answers ``USE_OWN``.

    A student bundle has recorded reference answers instead of the reference
    (grader.grading.answers);
    for a call it holds no answer to, the student's own function runs, as plain Python would.
    """
    if own is None:
        return standin

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return standin(*args, **kwargs)
        except CallbackFailed as exc:
            if str(exc) != protocol.USE_OWN:
                raise
        return own(*args, **kwargs)

    call.__name__ = call.__qualname__ = getattr(standin, "__name__", "standin")
    return call


def _defined_in(obj: Any, module: types.ModuleType) -> bool:
    return getattr(obj, "__module__", None) == module.__name__


def describe(exc: BaseException) -> dict[str, str]:
    """An exception as strings: the only form in which it crosses the boundary."""
    if isinstance(exc, MissingName):
        return {
            "type": "MissingName",
            "message": exc.missing,
            "available": json.dumps(exc.available[:200]),
            "traceback": "",
        }
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    # Drop the worker's own frames: the student needs their code's lines, not ours.
    text = "".join(line for line in tb if "grader/sandbox/worker.py" not in line)
    try:
        message = str(exc)
    except BaseException:
        message = f"<{type(exc).__name__} whose message cannot be shown>"
    return {"type": type(exc).__name__, "message": message[:4000], "traceback": text[-8000:]}


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()


# -- probe: what a student could do here (the start-up canary) -----------------------------------


def probe(request: dict[str, Any]) -> dict[str, str]:
    """Try what a student must not be able to do; report each attempt as 'blocked: ...' or not.

    Run by ``grader.sandbox.canary`` in a fresh worker, locked down exactly like a test's. Each
    value
    starts with "blocked" or "ALLOWED"; the trusted side decides what that means.
    """
    report: dict[str, str] = {}
    for path in request.get("read", []):
        report[f"read {path}"] = _attempt(functools.partial(_read_one_byte, path))
    for path in request.get("list", []):
        report[f"list {path}"] = _attempt(functools.partial(os.listdir, path))
    for path in request.get("write", []):
        target = os.path.join(path, f".grader-canary-{os.getpid()}")
        report[f"write {path}"] = _attempt(functools.partial(_write_and_remove, target))
    if "port" in request:
        report["network"] = _attempt(
            functools.partial(_connect, int(request["port"])), allowed=(ConnectionError,)
        )
    grader = request.get("grader")
    if isinstance(grader, int):
        report["signal the grader"] = _attempt(functools.partial(os.kill, grader, 0))
        report["inspect the grader process"] = _attempt(
            functools.partial(_read_one_byte, f"/proc/{grader}/environ")
        )
    report["fork"] = _attempt(functools.partial(_fork_many, int(request.get("nproc", 1)) + 1))
    report["uid"] = f"uid={os.getuid()}"
    return report


def _connect(port: int) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(1.0)
        s.connect(("127.0.0.1", port))
    finally:
        s.close()


def _read_one_byte(path: str) -> None:
    with open(path, "rb") as f:
        f.read(1)


def _attempt(action: Callable[[], Any], allowed: tuple[type[BaseException], ...] = ()) -> str:
    try:
        action()
    except allowed as exc:
        return f"ALLOWED (reached the network stack: {exc})"
    except OSError as exc:
        return f"blocked: {exc.strerror or exc}"
    return "ALLOWED"


def _write_and_remove(target: str) -> None:
    with open(target, "w") as fh:
        fh.write("canary")
    os.remove(target)


def _fork_many(count: int) -> None:
    """Fork ``count`` children that stay alive (so each counts against RLIMIT_NPROC)."""
    pids: list[int] = []
    try:
        for _ in range(count):
            pid = os.fork()
            if pid == 0:
                signal.pause()
                os._exit(0)
            pids.append(pid)
    except OSError as exc:
        if pids:
            raise OSError(exc.errno, f"{exc.strerror} (process limit after {len(pids)})") from None
        raise
    finally:
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # Skip the interpreter's clean-up: nothing here needs it, and tearing down torch's
    # modules took ~0.5 s that the grader spent waiting at the end of every grading.
    _flush()
    os._exit(code)
