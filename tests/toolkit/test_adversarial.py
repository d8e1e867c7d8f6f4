"""Submissions that attack the grader (tests/corpus/adversarial) get exactly what their work earns.

Every case is graded like ``grader grade`` (results directory closed, canary, results.json written
after the sandbox is gone) and must: score honestly (the reference's marks, zero, or the tests its
attack breaks), say why in the failed tests, finish well within 120 s, leave no process alive, leave
the project's files as they were and write nothing outside its scratch directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader.authoring import pack
from grader.sandbox import host as sandbox
from grader.sandbox import landlock
from grader.sandbox.host import Mother

sys.path.insert(0, str(Path(__file__).resolve().parent))
import adversarial_corpus as corpus

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534


def test_the_corpus_covers_the_attacks_the_issue_names() -> None:
    names = corpus.case_names()
    assert len(names) >= 30
    for name in names:
        case = corpus.load_case(name)
        assert case["what"] and case["only"] and case["expect"], name
        assert case["module"] is None or (corpus.corpus_dir() / name / "attack.py").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("name", corpus.case_names())
def test_adversarial_submission_scores_honestly(name: str, tmp_path: Path, mother: Mother) -> None:
    report = corpus.grade_case(name, tmp_path, mother)
    if corpus.unsupported(report):
        pytest.skip(str(corpus.unsupported(report)))
    assert corpus.failures(report) == [], json.dumps(report, indent=2)
    if os.geteuid() == 0 and "uid" not in report["sandbox"]:
        assert report["sandbox"]["user"] == sandbox.OWN_UID


# Gradescope runs the grader as root in a Docker container that refuses namespaces: no read-only
# mounts, no network namespace. Seccomp, the slot uid, rlimits and the reaper must carry these.
WITHOUT_NAMESPACES = [
    "disk_filling",
    "fork_bomb",
    "infinite_loop_in_call",
    "kill_the_grader",
    "lingering_daemon",
    "memory_bomb",
    "network",
    "steal_from_disk",
    "tamper_with_the_project",
    "write_results_file",
]


@pytest.mark.slow
@pytest.mark.asroot
@pytest.mark.skipif(os.geteuid() != 0, reason="the slot uids need root")
@pytest.mark.parametrize("name", WITHOUT_NAMESPACES)
def test_without_namespaces_as_in_gradescope(name: str, tmp_path: Path, mother: Mother) -> None:
    off = {sandbox.UNSAFE_DISABLE: "netns,mountns"}
    report = corpus.grade_case(name, tmp_path, mother, env=off)
    assert corpus.failures(report) == [], json.dumps(report, indent=2)
    assert report["sandbox"]["mountns"].startswith("disabled")
    assert report["sandbox"]["canary"].startswith("passed")


def _readable_copy(dest: Path) -> None:
    """What an unprivileged grader needs of the project: the reference, the suites, the corpus
    and its driver; the grader package itself comes from the (world-readable) venv install."""
    for rel in ("solutions", "assignment", "tests/grading", "tests/corpus/adversarial"):
        shutil.copytree(ROOT / rel, dest / rel)
    (dest / "driver").mkdir()
    shutil.copy(Path(corpus.__file__), dest / "driver" / "adversarial_corpus.py")
    for path in [dest, *dest.rglob("*")]:
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)


@pytest.mark.slow
@pytest.mark.asroot
@pytest.mark.skipif(os.geteuid() != 0, reason="setpriv to another user needs root")
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_an_unprivileged_grader_also_scores_honestly() -> None:
    """The same attacks with the grader running as `nobody`: no uid of its own, no namespaces.

    What still holds there is the process boundary, seccomp, rlimits, the subreaper and the
    marker scan: scores stay honest and nothing survives (docs/SECURITY.md, "as a normal user").
    """
    names = corpus.case_names(unprivileged_only=True)
    assert len(names) >= 10
    solutions_mode = pack.active().solutions.stat().st_mode
    top = Path(tempfile.mkdtemp(prefix="grader-unprivileged-"))
    try:
        top.chmod(0o755)
        copy = top / "project"
        _readable_copy(copy)
        env = corpus.course_env(copy, home=copy)
        report_path = copy / "report.json"
        proc = subprocess.run(
            [
                "setpriv",
                f"--reuid={NOBODY}",
                f"--regid={NOBODY}",
                "--clear-groups",
                sys.executable,
                str(copy / "driver" / "adversarial_corpus.py"),
                str(report_path),
                *names,
            ],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-5000:]
        reports = json.loads(report_path.read_text())
        assert [r["name"] for r in reports] == names
        for report in reports:
            if corpus.unsupported(report):  # no unprivileged user namespaces on this machine
                continue
            assert corpus.failures(report) == [], json.dumps(report, indent=2)
            assert report["sandbox"]["user"] == "unavailable (not root)"
        warned = proc.stderr.count("the sandbox is incomplete when the grader is not root")
        if landlock.abi()[0]:
            # The allowlist holds without root: the canary finds nothing secret to warn about.
            assert warned == 0, proc.stderr
        else:
            # Without it the canary says what got through, once per set of missing layers
            # (the case with seccomp off makes a second set), and grading goes on.
            assert 1 <= warned <= 2, proc.stderr
            assert "read solutions" in proc.stderr
        assert not list(Path("/tmp").glob("ADVERSARIAL*"))
        # The grader changed no mode of the real project's (the allowlist needs none).
        assert pack.active().solutions.stat().st_mode == solutions_mode
    finally:
        shutil.rmtree(top, ignore_errors=True)
