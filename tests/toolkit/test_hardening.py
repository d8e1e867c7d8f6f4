"""Layers of the sandbox one at a time: what one test's worker leaves behind, what it can reach."""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader import canary, messages, sandbox
from grader.sandbox import Mother, Sandbox, StudentError

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (sandbox uid, namespaces)")

DAEMON = """
import os, time


def softmax(x):
    r, w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        pid = os.fork()
        if pid == 0:
            time.sleep(600)
            os._exit(0)
        os.write(w, str(pid).encode())
        os._exit(0)
    os.close(w)
    os.wait()
    return int(os.read(r, 32))
"""

FILES = """
import os


def softmax(x):
    home = os.path.expanduser("~")
    before = sorted(os.listdir(home))
    with open(os.path.join(home, "note.txt"), "w") as f:
        f.write("from an earlier test")
    written = []
    for d in ("/tmp", "/var/tmp", "/dev/shm", os.path.dirname(__file__)):
        try:
            with open(os.path.join(d, "grader-hardening-probe"), "w") as f:
                f.write("x")
            written.append(d)
        except OSError:
            pass
    return {"before": before, "written": written, "cwd": os.getcwd() == home}
"""

STASH = """
KEPT = []


def softmax(f):
    KEPT.append(f)
    return f(2.0)


def l2_penalty(w):
    return KEPT[0](3.0)
"""


@pytest.fixture(autouse=True)
def fresh_canary() -> Iterator[None]:
    canary.clear_cache()
    yield
    canary.clear_cache()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")


def test_a_daemon_dies_with_the_test_that_started_it(
    mother: Mother, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without seccomp the fork succeeds; setsid() takes the daemon out of the worker's process
    # group, so only the zygote's sweep (it is a subreaper) can find it.
    monkeypatch.setenv(sandbox.UNSAFE_DISABLE, "seccomp")
    with Sandbox({"losses.py": DAEMON}, mother=mother) as box:
        first = box.worker()
        daemon = first.call("losses", "softmax", (0,), {})["value"]
        assert _alive(daemon)
        first.close()
        second = box.worker()  # the zygote handles the release before this hand-over
        for _ in range(200):
            if not _alive(daemon):
                break
            time.sleep(0.01)
        assert not _alive(daemon)
        second.close()
    assert box.survivors == []


def test_fork_is_refused_with_seccomp(mother: Mother) -> None:
    with Sandbox({"losses.py": DAEMON}, mother=mother) as box:
        w = box.worker()
        with pytest.raises(StudentError) as err:
            w.call("losses", "softmax", (0,), {})
        assert err.value.type == "PermissionError"
        w.close()


def test_a_handle_lives_only_as_long_as_its_call(mother: Mother) -> None:
    with Sandbox({"losses.py": STASH}, mother=mother) as box:
        w = box.worker()
        assert w.call("losses", "softmax", (lambda v: v * 10,), {})["value"] == 20.0
        with pytest.raises(StudentError) as err:
            w.call("losses", "l2_penalty", (0,), {})
        assert err.value.type == "CallbackFailed"
        assert messages.EXPIRED in err.value.message
        w.close()


@root_only
@pytest.mark.asroot
def test_each_test_gets_an_empty_work_dir_and_a_read_only_world(mother: Mother) -> None:
    with Sandbox({"losses.py": FILES}, mother=mother) as box:
        mountns = box.ready().layers["mountns"]
        if "Operation not permitted" in mountns:  # a container without CAP_SYS_ADMIN
            pytest.skip(f"no mount namespace here: {mountns}")
        assert mountns == "on"
        for _ in range(2):
            w = box.worker()
            seen = w.call("losses", "softmax", (0,), {})["value"]
            w.close()
            assert seen == {"before": [], "written": [], "cwd": True}
    for d in ("/tmp", "/var/tmp", "/dev/shm"):
        assert not Path(d, "grader-hardening-probe").exists()


def test_the_grader_is_not_dumpable_while_it_grades() -> None:
    libc = ctypes.CDLL(None)
    before = libc.prctl(sandbox.PR_GET_DUMPABLE, 0, 0, 0, 0)
    with sandbox.undumpable():
        assert libc.prctl(sandbox.PR_GET_DUMPABLE, 0, 0, 0, 0) == 0
        with sandbox.undumpable():  # nested: still off, and off after the inner one
            pass
        assert libc.prctl(sandbox.PR_GET_DUMPABLE, 0, 0, 0, 0) == 0
    assert libc.prctl(sandbox.PR_GET_DUMPABLE, 0, 0, 0, 0) == before
