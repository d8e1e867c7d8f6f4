"""Layers of the sandbox one at a time: what one test's worker leaves behind, what it can reach."""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader import messages
from grader.sandbox import canary, layers
from grader.sandbox.host import Mother, Sandbox
from grader.sandbox.layers import StudentError

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
    monkeypatch.setenv(layers.UNSAFE_DISABLE, "seccomp")
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


def test_the_seccomp_program_built_once_is_each_workers_own() -> None:
    """The zygote builds the BPF program once; with a worker's pid written in, it must be
    byte for byte what libseccomp builds for that pid (``grader.sandbox.lockdown._Filter``)."""
    from grader.sandbox import lockdown, worker

    sc = worker._load_seccomp_module()
    if sc is None:
        pytest.skip("libseccomp is not installed here")
    rules = lockdown._Filter.build(sc)
    assert rules.program is not None and rules.slots, "the template was not usable here"
    for pid in (1, 4242, 123457, 4194303):
        assert rules.for_pid(pid) == lockdown._bpf(sc, pid)


def test_pid_slots_refuse_programs_that_differ_elsewhere() -> None:
    from grader.sandbox import lockdown as worker

    a, b = worker._PID_MARKS
    insn = (0x15).to_bytes(2, "little") + bytes([0, 1])
    same = (6).to_bytes(2, "little") + bytes(2) + (0).to_bytes(4, "little")
    first = insn + a.to_bytes(4, "little") + same
    second = insn + b.to_bytes(4, "little") + same
    assert worker._pid_slots(first, second) == (0,)
    other = insn + b.to_bytes(4, "little") + same[:-1] + b"\x01"
    assert worker._pid_slots(first, other) == ()
    assert worker._pid_slots(first, second + same) == ()


SELF_SIGNAL = """
import os, signal


def softmax(x):
    os.kill(os.getpid(), signal.SIGSEGV)


def l2_penalty(W):
    return os.kill(os.getppid(), 0)
"""


def test_a_worker_may_signal_itself_and_nobody_else(mother: Mother) -> None:
    with Sandbox({"losses.py": SELF_SIGNAL}, mother=mother) as box:
        w = box.worker()
        with pytest.raises(StudentError) as err:
            w.call("losses", "l2_penalty", (0,), {})
        assert err.value.type == "PermissionError"
        w.close()
        w = box.worker()
        with pytest.raises(layers.WorkerGone) as gone:
            w.call("losses", "softmax", (0,), {})
        assert "SIGSEGV" in gone.value.reason
        w.close()


RAISES_AT_LINE_7 = """
import numpy as np


def softmax(x):
    y = np.asarray(x)
    raise ValueError("line 7")


def l2_penalty(W):
    return type(__loader__).__name__
"""


def test_a_module_compiled_by_the_zygote_reads_as_its_file(mother: Mother) -> None:
    """Student modules are compiled once by the zygote: tracebacks still name the file, the line
    and its text; a file that does not compile is reported by the worker that imports it."""
    sources = {"losses.py": RAISES_AT_LINE_7, "optim.py": "def sgd_step(:\n"}
    with Sandbox(sources, mother=mother) as box:
        w = box.worker()
        with pytest.raises(StudentError) as err:
            w.call("losses", "softmax", ([1.0],), {})
        assert 'losses.py", line 7, in softmax' in err.value.traceback
        assert 'raise ValueError("line 7")' in err.value.traceback
        # ... and it was the zygote's code object that ran, not a fresh compile of the file
        assert w.call("losses", "l2_penalty", (0,), {})["value"] == "_CompiledLoader"
        with pytest.raises(StudentError) as bad:
            w.call("optim", "sgd_step", (0,), {})
        assert bad.value.type == "SyntaxError"
        w.close()


UNSEEDED = """
import numpy as np
import random


def softmax(x):
    return [float(np.random.random()), random.random()]
"""


def test_unseeded_random_numbers_differ_from_worker_to_worker(mother: Mother) -> None:
    """Every worker is a fork of the same zygote; each must still draw its own numbers from
    numpy's global RandomState (the zygote reseeds it before each fork) and Python's random."""
    with Sandbox({"losses.py": UNSEEDED}, mother=mother) as box:
        drawn = []
        for _ in range(4):
            w = box.worker()
            drawn.append(w.call("losses", "softmax", (0,), {})["value"])
            w.close()
    assert len({d[0] for d in drawn}) == 4, drawn
    assert len({d[1] for d in drawn}) == 4, drawn


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


@root_only
@pytest.mark.asroot
def test_a_slot_is_reaped_by_the_mother_not_by_a_fork_of_the_grader(
    mother: Mother, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a killed grader left running as a slot's uid is killed when the slot is taken
    again, by a child of the mother (not a fork of this big process) that signals every process
    of the uid at once (kill -1 as that uid), so no scan of /proc can miss one, non-dumpable or
    not."""
    from grader.sandbox import slots

    def no_fork_here(uid: int) -> None:
        raise AssertionError("the grading process forked for the kill")

    slot = slots._Slot.acquire(killer=mother.kill_uid)
    try:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the leftover
            os.setgid(slot.uid)
            os.setuid(slot.uid)
            ctypes.CDLL(None).prctl(layers.PR_SET_DUMPABLE, 0, 0, 0, 0)
            os.write(w, b"x")
            time.sleep(600)
            os._exit(0)
        os.close(w)
        assert os.read(r, 1) == b"x"
        os.close(r)
        monkeypatch.setattr(slots, "kill_uid", no_fork_here)
        slot.reap()
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9
    finally:
        slot.release()


def test_the_mother_kills_only_sandbox_uids(mother: Mother) -> None:
    """kill(-1) as root would kill the whole machine: only the sandbox users' range passes."""
    from grader.sandbox import slots

    first, last = layers.SLOT_UID, layers.SLOT_UID + layers.SLOTS - 1
    assert slots.is_slot_uid(first) and slots.is_slot_uid(last)
    assert not any(slots.is_slot_uid(u) for u in (0, 1000, first - 1, last + 1))
    with pytest.raises(OSError, match="not a sandbox uid"):
        mother.kill_uid(12345)
    with pytest.raises(ValueError, match="not a sandbox uid"):
        slots.kill_uid(0)


def test_the_grader_is_not_dumpable_while_it_grades() -> None:
    libc = ctypes.CDLL(None)
    before = libc.prctl(layers.PR_GET_DUMPABLE, 0, 0, 0, 0)
    with layers.undumpable():
        assert libc.prctl(layers.PR_GET_DUMPABLE, 0, 0, 0, 0) == 0
        with layers.undumpable():  # nested: still off, and off after the inner one
            pass
        assert libc.prctl(layers.PR_GET_DUMPABLE, 0, 0, 0, 0) == 0
    assert libc.prctl(layers.PR_GET_DUMPABLE, 0, 0, 0, 0) == before
