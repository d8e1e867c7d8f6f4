"""The worker's view of the disk: an allowlist, enforced by a minimal mount tree and Landlock.

Runs in the zygote (``grader.sandbox.worker``), which never runs student code. A worker must read
the
interpreter, the standard library, the installed packages (numpy, torch), the grader's own
package, the shared libraries they load and a handful of files and devices; it must read its own
copy of the submission and write its own work directory. Nothing else on the disk is the
student's: not the course's ``solutions/`` and ``tests/``, not another clone of the course
elsewhere, not the grader's home, not the other submissions of a batch (docs/SECURITY.md).

Two mechanisms enforce the same list, each where it can be had:

* **A minimal mount tree** (root, or a user with a user namespace): the zygote mounts a tmpfs,
  binds every allowed path into it read-only at its own path, writes the submission into it, and
  makes it the root with ``pivot_root``. What is not on the list does not exist for the worker.
  Each worker mounts a fresh tmpfs on its work directory (``fresh_work_dir``).
* **Landlock** (Linux 5.13+, no privileges needed): the zygote builds one ruleset from the list;
  each worker restricts itself with it, then with a second layer of its own that allows writing
  in its work directory only (``confine``). What is not on the list is denied (EACCES).

What the list holds was found, not guessed: every file a worker opened while grading the
reference, the stubs, the bug corpus and the notebook, traced with ``strace -f`` (docs/SECURITY.md
lists them). ``READ_FILES`` and ``READ_DIRS`` are what the interpreter and the libraries read
outside their own folders; everything else comes from the running zygote itself (``sys.path``,
the folders of the libraries it has mapped, the dynamic loader's folders).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import platform
import re
import sys
from dataclasses import dataclass
from typing import Any

from grader.sandbox import landlock

CLONE_NEWNS = 0x00020000
#: mount(2) flags
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 1024, 2048, 4096, 16384
MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
MNT_DETACH = 2
_MOUNT_OPTIONS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}

#: The per-test writable directory inside the scratch, with the mount tree (a fresh tmpfs each).
WORK = "work"

#: Files read outside the interpreter's and the libraries' folders (strace of a grading): the
#: dynamic loader's cache, OpenSSL's configuration (``hashlib``, which ``numpy.random`` imports),
#: the time zone, and the CPU description torch's cpuinfo reads at its first operation.
READ_FILES = (
    "/etc/ld.so.cache",
    "/usr/lib/ssl/openssl.cnf",
    "/etc/ssl/openssl.cnf",
    "/etc/localtime",
    "/proc/cpuinfo",
)
#: Folders read the same way: the CPU topology (glibc's and torch's CPU counts).
READ_DIRS = ("/sys/devices/system/cpu",)
#: Where the dynamic loader looks for libraries (ctypes and extension modules load by name).
LIBRARY_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")
#: Devices: the first is written too (output thrown away), the others are only read.
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")


@dataclass(frozen=True)
class Allowed:
    """One entry of the allowlist: a path and what the worker may do there."""

    path: str
    access: int  # Landlock rights (grader.sandbox.landlock), used by both mechanisms


def allowlist(scratch: str, deny: tuple[str, ...] = (), gpu: bool = False) -> list[Allowed]:
    """What a worker of this zygote may reach: read, and write where ``access`` says.

    ``deny``: the trusted folders (the course's solutions and suites). A candidate that holds one
    of them (a project root on ``sys.path``, as an old-style editable install puts it) is left
    out; the grader's own package is listed by itself.
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(landlock.__file__)))
    read: list[str] = [p for p in sys.path if p]
    read += [os.path.dirname(p) for p in _mapped_files()]
    read += [*LIBRARY_DIRS, *READ_DIRS, *READ_FILES, package]
    denied = [os.path.realpath(d) for d in deny]
    candidates = [
        p
        for p in read
        if os.path.exists(p) and not any(_within(d, os.path.realpath(p)) for d in denied)
    ]
    out = [Allowed(path, landlock.READ) for path in _outermost(candidates)]
    for dev in DEVICES:
        rights = landlock.READ_FILE | (landlock.WRITE_FILE if dev == "/dev/null" else 0)
        out.append(Allowed(dev, rights))
    if gpu:
        # NVIDIA's driver: its device files (read, write, ioctl) and what it reports under
        # /proc and /sys. Never run here (no GPU was lent): docs/SECURITY.md, "Known limits".
        gpu_rw = landlock.READ_FILE | landlock.WRITE_FILE | landlock.IOCTL_DEV
        out += [Allowed(d, gpu_rw) for d in sorted(glob.glob("/dev/nvidia*"))]
        out += [Allowed(p, landlock.READ) for p in ("/proc/driver/nvidia", "/sys/devices")]
    # The submission: read it; write only in the work directory (``confine``'s second layer).
    out.append(Allowed(scratch, landlock.WORK))
    return out


def aliases() -> list[str]:
    """Paths the worker uses that are symbolic links on the host (``/lib`` on a merged /usr, a
    venv's folders): the mount tree recreates them."""
    paths = [p for p in (*LIBRARY_DIRS, *sys.path) if p and os.path.exists(p)]
    return [p for p in paths if os.path.realpath(p) != os.path.abspath(p)]


def _within(inner: str, outer: str) -> bool:
    """Whether ``inner`` is ``outer`` or below it."""
    return inner == outer or inner.startswith(outer.rstrip("/") + "/")


def _mapped_files() -> list[str]:
    """The files this process has mapped (its shared libraries), from /proc/self/maps."""
    found: set[str] = set()
    with contextlib.suppress(OSError), open("/proc/self/maps", encoding="utf-8") as f:
        for line in f:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].startswith("/") and "(deleted)" not in fields[5]:
                found.add(fields[5].strip())
    return sorted(p for p in found if os.path.isfile(p))


def _outermost(paths: Any) -> list[str]:
    """Real paths, without those inside another one of the list."""
    real = sorted({os.path.realpath(p) for p in paths})
    kept: list[str] = []
    for p in real:
        if not any(_within(p, k) for k in kept):
            kept.append(p)
    return kept


# -- Landlock ----------------------------------------------------------------------------------


def build_ruleset(allowed: list[Allowed]) -> tuple[str, landlock.Ruleset | None]:
    """The zygote's ruleset (its workers apply it): the layer's state in words, and the ruleset."""
    version, why = landlock.abi()
    if not version:
        return f"unavailable ({why})", None
    handled = landlock.Handled.everything(version)
    try:
        ruleset = landlock.Ruleset(handled)
        for a in allowed:
            ruleset.allow(a.path, a.access)
    except OSError as exc:
        return f"failed: {exc.strerror or exc}", None
    return f"on (ABI {version}: {', '.join(handled.names())})", ruleset


def confine(ruleset: landlock.Ruleset, work: str) -> None:
    """In a worker: apply the zygote's ruleset, then a layer that writes only in ``work``.

    Landlock layers intersect: the first allows reading the list and writing anywhere in the
    scratch, the second handles only the writing rights and allows them in the work directory
    (and on /dev/null). Built here because each worker's work directory is its own.
    """
    ruleset.restrict()
    ruleset.close()
    # What the first layer grants nowhere (devices, sockets, execution) stays denied by it.
    writing = landlock.WORK & ~landlock.READ & ruleset.handled.fs
    own = landlock.Ruleset(landlock.Handled(writing))
    try:
        own.allow(work, writing)
        own.allow("/dev/null", landlock.WRITE_FILE)
        own.restrict()
    finally:
        own.close()


# -- the minimal mount tree ----------------------------------------------------------------------


def minimal_tree(scratch: str, allowed: list[Allowed], owner: int | None) -> str:
    """Our own mount namespace whose root holds only ``allowed``, read-only, and the submission.

    The submission's files move from the host's ``scratch`` into the new root at the same path;
    ``scratch/work`` is where each worker mounts its own tmpfs. Root only, or "root" of a user
    namespace; a failure leaves this process's view as it was and says why.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    files = {}
    for name in os.listdir(scratch):
        with open(os.path.join(scratch, name), "rb") as f:
            files[name] = f.read()
    if libc.unshare(CLONE_NEWNS) != 0:
        return f"failed: {os.strerror(ctypes.get_errno())}"
    # Private first: nothing we mount may propagate back to the host.
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return f"failed: make-private: {os.strerror(ctypes.get_errno())}"
    new = scratch  # a folder of ours: the new root is mounted over it, then made the root
    size = max(sum(len(b) for b in files.values()) * 2, 4 * 2**20)
    opts = f"size={size},mode=0755".encode()
    if libc.mount(b"tmpfs", new.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, opts) != 0:
        return f"failed: root tmpfs: {os.strerror(ctypes.get_errno())}"
    try:
        for a in allowed:
            if a.path == scratch or a.path.startswith("/proc/"):
                continue  # the submission is written below; /proc is bound whole
            _bind(libc, a.path, new)
        for path in aliases():  # /lib -> usr/lib and the like, which the loader relies on
            _place(new, path)
        _bind(libc, "/proc", new)  # for the zygote itself; Landlock hides it from the workers
        inner = new + scratch
        os.makedirs(inner, exist_ok=True)
        for name, data in files.items():
            path = os.path.join(inner, name)
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, 0o644)
        os.mkdir(os.path.join(inner, WORK), 0o700)
        if owner is not None:
            os.chown(os.path.join(inner, WORK), owner, owner)
        _pivot(libc, new)
    except OSError as exc:
        libc.umount2(new.encode(), MNT_DETACH)
        return f"failed: {exc.strerror or exc}"
    for point, flags in _mounts():
        # A bind remount changes this mount's flags only, in this namespace only.
        libc.mount(None, point.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags, None)
    writable = [p for p, _ in _mounts(real_only=True) if not _read_only(p)]
    if writable:
        return f"failed: still writable: {', '.join(writable[:5])}"
    return "on"


def _place(root: str, path: str) -> str:
    """Make ``path`` exist under ``root`` as on the host, symbolic links included; the real path."""
    cur = "/"
    for part in path.strip("/").split("/"):
        host = os.path.join(cur, part)
        inside = root + host
        if os.path.islink(host):
            if not os.path.lexists(inside):
                os.symlink(os.readlink(host), inside)
            cur = _place(root, os.path.realpath(host))
        elif os.path.isdir(host):
            if not os.path.isdir(inside):
                os.mkdir(inside, 0o755)
            cur = host
        else:
            return host
    return cur


def _bind(libc: Any, path: str, root: str) -> None:
    """Bind ``path`` (and what is mounted below it) to the same path under ``root``."""
    real = _place(root, path)
    target = root + real
    if os.path.isdir(real):
        os.makedirs(target, exist_ok=True)
    else:
        _place(root, os.path.dirname(real))
        if not os.path.exists(target):
            with open(target, "wb"):
                pass
    if libc.mount(real.encode(), target.encode(), None, MS_BIND | MS_REC, None) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"bind {real}: {os.strerror(code)}")


def _pivot(libc: Any, new: str) -> None:
    """Make ``new`` the root and detach the old one (pivot_root(".", ".") then umount)."""
    number = _SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(0, f"pivot_root: unknown system call number on {platform.machine()}")
    os.chdir(new)
    if libc.syscall(number, b".", b".") != 0:
        raise OSError(ctypes.get_errno(), f"pivot_root: {os.strerror(ctypes.get_errno())}")
    if libc.umount2(b".", MNT_DETACH) != 0:
        raise OSError(ctypes.get_errno(), f"detach old root: {os.strerror(ctypes.get_errno())}")
    os.chdir("/")


def fresh_work_dir(work: str, uid: int | None, size: int) -> None:
    """In a worker (still root here): a mount namespace of its own, an empty tmpfs as cwd."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) for the work directory")
    owner = f",uid={uid},gid={uid}" if uid is not None else ""
    opts = f"size={size},mode=0700{owner}".encode()
    if libc.mount(b"tmpfs", work.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, opts) != 0:
        raise OSError(ctypes.get_errno(), "mount of the work directory")
    os.chdir(work)


def own_work_dir(scratch: str, uid: int | None) -> str:
    """Without the mount tree: a new, empty directory of this worker's in the scratch."""
    work = os.path.join(scratch, f"{WORK}-{os.getpid()}")
    os.mkdir(work, 0o700)
    if uid is not None:
        os.chown(work, uid, uid)
    os.chdir(work)
    return work


#: File systems where nobody creates files (kernel interfaces): they may stay as they are.
_PSEUDO = frozenset(
    [
        "proc",
        "sysfs",
        "cgroup",
        "cgroup2",
        "devpts",
        "mqueue",
        "securityfs",
        "debugfs",
        "tracefs",
        "pstore",
        "bpf",
        "configfs",
        "fusectl",
        "hugetlbfs",
        "binfmt_misc",
        "autofs",
        "efivarfs",
        "devtmpfs",  # only device files are bound from it; they are written by design
    ]
)


def _mounts(real_only: bool = False) -> list[tuple[str, int]]:
    """(mount point, flags to keep) of every mount, parents before children."""
    out = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            fields = line.split()
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            fstype = fields[fields.index("-") + 1] if "-" in fields else ""
            if real_only and fstype in _PSEUDO:
                continue
            flags = 0
            for opt in fields[5].split(","):
                flags |= _MOUNT_OPTIONS.get(opt, 0)
            out.append((point, flags))
    return out


def _read_only(point: str) -> bool:
    try:
        return bool(os.statvfs(point).f_flag & os.ST_RDONLY)
    except OSError:
        return True  # hidden under another mount, or gone: nothing to write through
