"""Landlock (Linux 5.13+) through its three system calls: the worker's allowlist of the disk.

A process describes what it may still do (a *ruleset*: the access rights it handles and, for each
allowed file or directory, which of them it keeps), then restricts itself; every later process
it forks inherits the restriction and can only narrow it. It needs no privileges, works inside
containers and as a normal user, and is what lets a worker see nothing of the disk but the
interpreter, the libraries and its own submission, whoever runs the grader (docs/SECURITY.md).

Why our own ctypes module: the Python bindings on PyPI are young (a 1.0 pre-release, two 0.x
packages of 2026) and build and apply a ruleset in one go, while the zygote needs to build its
ruleset once and have every forked worker apply it (one system call each), plus a second,
per-worker layer for the worker's own work directory. Three system calls and four structures
are little to own; ``tests/toolkit/test_landlock.py`` checks them against the kernel.

The ABI (1..7 here) decides what can be restricted; ``handled`` asks for every right it has:
file access (1), linking and renaming across directories (2), truncation (3), TCP bind and
connect (4), ioctl on devices (5), abstract unix sockets and signals outside the domain (6).
ABI 7 adds audit logging only.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from dataclasses import dataclass

# The system calls have the same numbers on every architecture (new calls since Linux 5.x).
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# File-system rights (include/uapi/linux/landlock.h), with the ABI that introduced each.
EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5
#: Network rights (ABI 4) and scopes (ABI 6).
NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

_FS_BY_ABI = {1: (1 << 13) - 1, 2: REFER, 3: TRUNCATE, 5: IOCTL_DEV}
#: The rights that apply to a file (not a directory) in a rule.
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ = READ_FILE | READ_DIR
#: What a worker may do in its own work directory: everything but making device nodes and
#: sockets, and executing.
WORK = (
    READ
    | WRITE_FILE
    | REMOVE_DIR
    | REMOVE_FILE
    | MAKE_DIR
    | MAKE_REG
    | MAKE_FIFO
    | MAKE_SYM
    | REFER
    | TRUNCATE
)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number: int, *args: object) -> int:
    result = int(_libc.syscall(ctypes.c_long(number), *args))
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def abi() -> tuple[int, str]:
    """The running kernel's Landlock ABI version, or 0 and why there is none."""
    try:
        return _syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION), ""
    except OSError as exc:
        if exc.errno == errno.ENOSYS:
            return 0, "the kernel has no Landlock (before Linux 5.13, or a sandbox such as gVisor)"
        if exc.errno == errno.EOPNOTSUPP:
            return 0, "Landlock is built into the kernel but not enabled (lsm= boot option)"
        return 0, f"Landlock cannot be queried: {exc.strerror}"


@dataclass(frozen=True)
class Handled:
    """What a ruleset restricts: file-system rights, network rights and scopes."""

    fs: int
    net: int = 0
    scoped: int = 0

    @classmethod
    def everything(cls, version: int) -> Handled:
        """Every right and scope ``version`` of the ABI knows."""
        fs = 0
        for v, bits in _FS_BY_ABI.items():
            if version >= v:
                fs |= bits
        net = NET_BIND_TCP | NET_CONNECT_TCP if version >= 4 else 0
        scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if version >= 6 else 0
        return cls(fs, net, scoped)

    def names(self) -> list[str]:
        """The restricted kinds of access, in words (for results.json and the docs)."""
        out = ["files"]
        if self.fs & REFER:
            out.append("refer")
        if self.fs & TRUNCATE:
            out.append("truncate")
        if self.fs & IOCTL_DEV:
            out.append("ioctl on devices")
        if self.net:
            out.append("TCP bind/connect")
        if self.scoped & SCOPE_ABSTRACT_UNIX_SOCKET:
            out.append("abstract unix sockets")
        if self.scoped & SCOPE_SIGNAL:
            out.append("signals")
        return out


class Ruleset:
    """A Landlock ruleset: built once, then applied by ``restrict`` (in any forked child too)."""

    def __init__(self, handled: Handled) -> None:
        self.handled = handled
        attr = _RulesetAttr(handled.fs, handled.net, handled.scoped)
        # The structure grew with the ABI (8, 16, then 24 bytes): an older kernel refuses a
        # larger one whose extra fields are set, so pass only as much as is used.
        size = 24 if handled.scoped else 16 if handled.net else 8
        self.fd = _syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)

    def allow(self, path: str, access: int) -> bool:
        """Keep ``access`` under ``path`` (a directory's whole tree, or one file).

        The rule holds the file the path names now (symbolic links followed); False when there
        is none. A file keeps only the rights that apply to files.
        """
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                access &= FILE_RIGHTS
            access &= self.handled.fs
            if not access:
                return False
            rule = _PathBeneathAttr(access, fd)
            _syscall(_SYS_ADD_RULE, self.fd, _RULE_PATH_BENEATH, ctypes.byref(rule), 0)
        finally:
            os.close(fd)
        return True

    def restrict(self) -> None:
        """Restrict this thread (and every process it forks from now on) to the ruleset."""
        if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(code)}")
        _syscall(_SYS_RESTRICT_SELF, self.fd, 0)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
