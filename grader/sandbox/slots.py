"""The sandbox users (root only): one uid per concurrent zygote from a range of its own, locked by
a file, and what a slot's previous holder left behind (processes, files) cleaned before reuse.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

from grader.sandbox.layers import SLOT_LOCKS, SLOT_UID, SLOTS, SandboxError

# -- sandbox users (root only) ------------------------------------------------------------------


#: Kills every process of a sandbox uid, as that uid (``kill(-1)``); see ``_Slot.reap``.
Killer = Callable[[int], None]


def is_slot_uid(uid: int) -> bool:
    """A uid of the sandbox users' range: the only ones ``kill_uid`` may become."""
    return SLOT_UID <= uid < SLOT_UID + SLOTS


def kill_uid(uid: int) -> None:
    """Kill every process of ``uid`` from a forked child that becomes that uid first.

    ``kill(-1)`` as the uid reaches every process of that uid and only those, in one call: the
    kernel walks its own process list, with no race against a process forking. The caller
    forks itself for this: a grading process (torch, the suites: ~1.5 GB mapped) took ~8-10 ms
    a fork, four times a grading; a mother (``host.Mother.kill_uid``) takes ~1 ms.
    """
    if not is_slot_uid(uid):  # as root, kill(-1) as ourselves would kill the whole machine
        raise ValueError(f"not a sandbox uid: {uid}")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked reaper
        try:
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        except BaseException:
            pass
        os._exit(0)
    os.waitpid(pid, 0)


class _Slot:
    """An exclusive sandbox uid, held by an flock for as long as a sandbox uses it.

    ``killer``: what kills the uid's processes (``kill_uid`` in a small process, such as the
    grading's mother); None: this process forks for it.
    """

    def __init__(self, index: int, fd: int, killer: Killer | None = None) -> None:
        self.index = index
        self.uid = SLOT_UID + index
        self._fd = fd
        self.killer = killer

    @classmethod
    def acquire(cls, killer: Killer | None = None) -> _Slot:
        SLOT_LOCKS.mkdir(mode=0o700, exist_ok=True)
        for index in range(SLOTS):
            fd = os.open(SLOT_LOCKS / f"slot-{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            slot = cls(index, fd, killer)
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
            killer = self.killer
            if killer is not None:
                try:
                    killer(self.uid)
                except (OSError, ValueError):  # the mother is gone: do it ourselves
                    self.killer = killer = None
            if killer is None:
                kill_uid(self.uid)
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
