"""The untrusted side: a zygote that forks one sandboxed worker per test.

Run as ``python -I -m grader.sandbox.worker CTRL_FD`` by ``grader.sandbox.host``; never imported
by the trusted side. The zygote pre-imports numpy (and torch when the submission uses it) so a
fresh worker costs a fork, not an interpreter start (security.md, c.13: ~3 ms instead of ~1.5 s
with torch). Student code runs only in the forked children, after they have locked themselves down:

    setsid -> own mount namespace + fresh tmpfs work dir (when root) -> rlimits
           -> drop to the sandbox uid (when root) -> no_new_privs + seccomp -> serve

The zygote itself never imports or runs student code, so a child can only harm itself. When root
it also unshares the network (no interface up) and the mount namespace (every mount read-only,
the student's files on a small tmpfs). It is a child subreaper: whatever a child starts, even a
double-forked ``setsid`` daemon, stays its descendant, and it kills every such orphan when the
child that started it is reaped and everything before it exits (docs/SECURITY.md).
A child locks itself down (``grader.sandbox.lockdown``), then answers calls over its own socket
(``grader.sandbox.serve``, ``grader.sandbox.protocol`` frames); callables it receives are
handles that call back to the trusted side (so the grader counts ``f`` evaluations, and reference
stand-ins for other assignment functions never enter this process).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import shutil
import signal
import socket
import sys
import time
import types
from collections.abc import Sequence
from typing import Any

from grader.sandbox import filesystem, landlock, lockdown, serve, slots
from grader.sandbox.lockdown import _child, _compile_sources, _Filter
from grader.sandbox.serve import _flush

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
PR_SET_CHILD_SUBREAPER = 36


# -- zygote --------------------------------------------------------------------------------------


def main(argv: Sequence[str]) -> int:
    """Serve as a zygote for one sandbox, or (``{"mother": true}``) as a mother of zygotes.

    A mother is started once per batch job slot: it pays the imports once and forks a zygote
    per submission (grader.classroom.process), saving the ~1.5 s torch import on every submission.
    """
    ctrl = socket.socket(fileno=int(argv[0]))
    cfg = json.loads(ctrl.recv(1 << 16))
    # A container's OOM killer takes the process with the highest score first: make it a
    # worker (all inherit this), never the grader, so a student's memory hog fails its own test
    # instead of the whole run. Set here: the zygote's own mounts are read-only later.
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")
    lockdown.name("mother" if cfg.get("mother") else "zygote")
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
    # its global RandomState a fresh seed (``lockdown.reseed``), as a worker importing it did.
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
                    lockdown.name("zygote")
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
            elif req["op"] == "kill_uid":
                try:
                    slots.kill_uid(int(req["uid"]))
                    reply = {"op": "killed"}
                except (OSError, ValueError) as exc:
                    reply = {"op": "failed", "error": str(exc)}
                # The reaper is our child: reaped by kill_uid, never by a sweep.
                ctrl.send(json.dumps(reply).encode())
            elif req["op"] == "exit":
                return 0
    finally:
        _sweep(keep=set())


def _zygote(ctrl: socket.socket, cfg: dict[str, Any], layers: dict[str, str]) -> int:
    serve.STUDENT_MODULES = tuple(str(m) for m in cfg.get("modules", ()))
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
        lockdown.reseed()
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


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # Skip the interpreter's clean-up: nothing here needs it, and tearing down torch's
    # modules took ~0.5 s that the grader spent waiting at the end of every grading.
    _flush()
    os._exit(code)
