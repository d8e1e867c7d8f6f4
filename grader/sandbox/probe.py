"""What a student's code could do in a locked-down worker, tried on purpose: the start-up
canary's probe (``grader.sandbox.canary``) runs this in a fresh worker.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
from collections.abc import Callable
from typing import Any

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
