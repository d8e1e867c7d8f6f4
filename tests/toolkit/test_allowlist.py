"""The worker's view of the disk is an allowlist, whoever runs the grader (issue 12).

Landlock's own system calls (``grader.sandbox.landlock``), the list itself
(``grader.sandbox.filesystem``), and
the promise end to end: as root, a world-readable copy of the course planted elsewhere on the
disk is out of reach (the threat is shown real first); as a normal user, with and without user
namespaces, the course in the user's home, a private file there and the other submissions of a
batch are unreadable and the home unwritable, while the reference and a submission with a helper
module and a data file grade as before; in a batch, a submission cannot reach another's files.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader.authoring import pack
from grader.classroom import batch
from grader.sandbox import filesystem, landlock, layers

sys.path.insert(0, str(Path(__file__).resolve().parent))
import adversarial_corpus as corpus

ROOT = Path(__file__).resolve().parents[2]
ABI, WHY = landlock.abi()
needs_landlock = pytest.mark.skipif(not ABI, reason=f"needs Landlock in the kernel: {WHY}")
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (setuid, useradd)")


def _in_child(action: object) -> int:
    """Run ``action()`` in a forked child; its exit status (0: it returned True)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os._exit(0 if action() else 1)  # type: ignore[operator]
        except BaseException:
            os._exit(2)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@needs_landlock
def test_a_ruleset_allows_its_folders_and_nothing_else(tmp_path: Path) -> None:
    inside, outside = tmp_path / "inside", tmp_path / "outside"
    for d in (inside, outside):
        d.mkdir()
        (d / "f.txt").write_text("x")

    def restricted() -> bool:
        rules = landlock.Ruleset(landlock.Handled.everything(ABI))
        assert rules.allow(str(inside), landlock.READ)
        assert not rules.allow(str(tmp_path / "missing"), landlock.READ)
        rules.restrict()
        (inside / "f.txt").read_text()
        for attempt in (
            (outside / "f.txt").read_text,
            lambda: os.listdir(outside),
            lambda: (inside / "g.txt").write_text("y"),  # read-only there
        ):
            try:
                attempt()
            except PermissionError:
                continue
            return False
        return True

    assert _in_child(restricted) == 0


def test_the_handled_rights_follow_the_abi() -> None:
    assert landlock.Handled.everything(1).names() == ["files"]
    assert landlock.Handled.everything(3).fs & landlock.TRUNCATE
    assert not landlock.Handled.everything(3).net
    six = landlock.Handled.everything(6)
    assert {"TCP bind/connect", "signals", "abstract unix sockets", "ioctl on devices"} <= set(
        six.names()
    )


def test_the_allowlist_holds_the_libraries_and_no_trusted_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An old-style editable install puts the project root on sys.path: left out, not opened up.
    monkeypatch.setattr(sys, "path", [*sys.path, str(ROOT)])
    entries = filesystem.allowlist(str(tmp_path), deny=tuple(map(str, pack.trusted_dirs())))
    paths = [e.path for e in entries]
    assert str(Path(filesystem.__file__).resolve().parents[1]) in paths  # the grader package
    assert any(Path(p, "numpy").is_dir() for p in paths)  # site-packages
    for trusted in pack.trusted_dirs():
        for p in paths:
            assert not Path(trusted).resolve().is_relative_to(p), (trusted, p)
    assert entries[-1] == filesystem.Allowed(str(tmp_path), landlock.WORK)


@root_only
@pytest.mark.asroot
def test_the_planted_clone_is_readable_to_a_sandbox_uid_outside_the_sandbox() -> None:
    """The threat is real on this machine: what the allowlist must hide, a uid alone reads."""
    planted = corpus.planted_clone() / "solutions" / "losses.py"

    def read_as_slot_uid() -> bool:
        os.setgid(layers.SLOT_UID + layers.SLOTS - 1)
        os.setuid(layers.SLOT_UID + layers.SLOTS - 1)
        return "def softmax" in planted.read_text()

    assert _in_child(read_as_slot_uid) == 0


# -- a normal user ----------------------------------------------------------------------------


def _owned(path: Path, uid: int, gid: int) -> None:
    for p in [path, *path.rglob("*")]:
        os.chown(p, uid, gid, follow_symlinks=False)


@pytest.mark.slow
@pytest.mark.parametrize("userns", ["with user namespaces", "without (Ubuntu 24.04's policy)"])
def test_a_normal_users_worker_sees_only_its_allowlist(
    normal_user: tuple[int, int, Path], userns: str
) -> None:
    uid, gid, home = normal_user
    course = home / "course"
    for rel in ("solutions", "assignment", "tests/grading"):
        shutil.copytree(ROOT / rel, course / rel, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "assignment.toml", course)  # the pack's manifest
    (home / "private.txt").write_text("the instructor's private notes")
    (home / "private.txt").chmod(0o600)
    for student in ("alice", "bob"):
        (home / "class" / student).mkdir(parents=True)
        shutil.copy(ROOT / "solutions" / "losses.py", home / "class" / student / "losses.py")
    driver = home / "driver"
    driver.mkdir()
    shutil.copy(Path(__file__).with_name("allowlist_driver.py"), driver)
    _owned(home, uid, gid)
    env = corpus.course_env(course, home)
    if userns.startswith("without"):
        env[layers.UNSAFE_DISABLE] = "userns"
    report_path = home / "report.json"
    command = [sys.executable, str(driver / "allowlist_driver.py"), str(report_path), str(ROOT)]
    if os.geteuid() == 0:
        command = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *command]
    proc = subprocess.run(
        command, cwd=home, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    report = json.loads(report_path.read_text())
    allowed = {k: v for k, v in report["spy"].items() if not v.startswith("blocked")}
    got_layers = report["layers"]
    if not ABI and got_layers.get("mountns") != "on":
        pytest.skip(f"neither Landlock ({WHY}) nor a mount namespace ({got_layers.get('mountns')})")
    assert allowed == {}, (allowed, got_layers)
    assert not (home / "pwned.txt").exists()
    assert (home / "class" / "bob" / "losses.py").read_text().startswith('"""')
    if ABI:
        assert got_layers["landlock"].startswith("on (ABI")
    score, max_score, error = report["reference"]
    assert error is None and score == max_score > 0
    score, max_score, error = report["with_files"]
    assert error is None and score == max_score > 0, report["with_files_layers"]


# -- a batch -------------------------------------------------------------------------------------

NEIGHBOUR = """
import glob as _glob
import os as _os

import numpy as _np


def softmax(scores):  # neighbour-spy
    paths = ["@BATCH@/bob/losses.py", *_glob.glob("/tmp/grader-sub-*/losses.py")]
    for top in ("@BATCH@", "@BATCH@/bob"):
        try:
            paths += [_os.path.join(top, n, "losses.py") for n in _os.listdir(top)]
        except OSError:
            pass
    for path in paths:
        try:
            with open(path) as f:
                source = f.read()
        except OSError:
            continue
        if "def softmax" in source and "neighbour-spy" not in source:
            namespace = {}
            exec(compile(source, "neighbour", "exec"), namespace)
            return namespace["softmax"](scores)
    return _np.zeros_like(scores)
"""


@pytest.mark.slow
def test_in_a_batch_a_submission_cannot_reach_another(tmp_path: Path) -> None:
    top = Path(tempfile.mkdtemp(prefix="grader-batch-"))  # world-readable, as batches are
    try:
        top.chmod(0o755)
        source = top / "class"
        (source / "alice").mkdir(parents=True)
        (source / "bob").mkdir()
        reference = (ROOT / "solutions" / "losses.py").read_text()
        (source / "bob" / "losses.py").write_text(reference)
        spy = reference + "\n" + NEIGHBOUR.replace("@BATCH@", str(source))
        (source / "alice" / "losses.py").write_text(spy)
        for p in [top, *top.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        out = tmp_path / "out"
        options = batch.BatchOptions(jobs=2, suites=("public", "hidden"), only="softmax")
        summary = batch.run_batch(source, out, options, stream=io.StringIO())
        assert summary.done == 2
        results = {
            name: json.loads((out / "results" / f"{name}.json").read_text())
            for name in ("alice", "bob")
        }
    finally:
        shutil.rmtree(top, ignore_errors=True)
    bob, alice = results["bob"], results["alice"]
    assert bob["score"] == sum(t["max_score"] for t in bob["tests"]) > 0
    # alice's softmax returns zeros unless it read bob's file: it must earn what zeros earn
    assert alice["score"] < bob["score"] / 2, alice["score"]
