"""``grader grade`` forks its sandbox's mothers from a clean process (grader.prefork, issue 15).

The threat is shown real first: a worker forked from a process exec'd with the grader's
environment finds a secret of that environment in its own memory (the attack reads the top of
its stack). Then, through the command as users run it, as root and as a normal user: no worker
finds the secret planted in the grader's environment and in its arguments, no zygote is started
as an interpreter of its own (the mothers were used), and the results are the ones a grading
without the mothers gives.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import prefork
from grader.sandbox.worker import children_of

ROOT = Path(__file__).resolve().parents[2]
ATTACK = ROOT / "tests" / "corpus" / "adversarial" / "steal_the_graders_environment" / "attack.py"
SECRET = "grader-secret-" + "51c0ffee"  # what the attack looks for


def _submission(dest: Path, extra: str = "", edit: tuple[str, str] | None = None) -> Path:
    """The reference, with ``extra`` appended to losses.py (and one ``edit`` made in it)."""
    dest.mkdir(parents=True)
    for src in (ROOT / "solutions").glob("*.py"):
        text = src.read_text()
        if src.name == "losses.py":
            if edit is not None:
                assert edit[0] in text
                text = text.replace(edit[0], edit[1], 1)
            text += "\n\n" + extra
        (dest / src.name).write_text(text)
    return dest


def _grade(
    sub: Path, out: Path, *args: str, env: dict[str, str] | None = None, user: str = ""
) -> subprocess.Popen[str]:
    """``python -m grader grade`` as users run it (its own process, the real command line)."""
    command = [sys.executable, "-m", "grader", "grade", str(sub), "--out", str(out), *args]
    if user:
        uid, gid = user.split(":")
        command = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *command]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "GRADER_TEST_SECRET": SECRET, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _results(out: Path) -> dict[str, dict[str, str]]:
    doc = json.loads(out.read_text())
    return {t["name"]: t for t in doc["tests"]}


def test_a_worker_forked_from_a_process_with_the_secret_finds_it(tmp_path: Path) -> None:
    """The attack works: where a worker's memory holds the secret, it answers honestly."""
    script = tmp_path / "fork.py"
    script.write_text(
        "import numpy as np, os\n"
        "g = {'softmax': lambda s: s / s.sum()}\n"
        f"exec(open({str(ATTACK)!r}).read(), g)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    out = g['softmax'](np.ones((1, 2)))\n"
        "    os._exit(0 if out.sum() == 1.0 else 1)\n"
        "raise SystemExit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
    )
    found = subprocess.run(
        [sys.executable, str(script)], env={**os.environ, "X": SECRET}, check=False
    )
    assert found.returncode == 0
    missing = subprocess.run(
        [sys.executable, str(script)], env={"PATH": "/usr/bin:/bin"}, check=False
    )
    assert missing.returncode == 1


@pytest.mark.parametrize("prefork_on", ["1", "0"])
def test_no_worker_finds_the_graders_environment_or_arguments(
    tmp_path: Path, prefork_on: str
) -> None:
    sub = _submission(tmp_path / "sub", ATTACK.read_text())
    out = tmp_path / SECRET / "results.json"  # in the arguments too
    out.parent.mkdir()
    proc = _grade(sub, out, "--only", "softmax", env={prefork.ENV: prefork_on})
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    tests = _results(out)
    assert not any("SCANNER-BROKEN" in t["output"] for t in tests.values())
    wrong = tests["softmax of two rows of three scores"]
    assert wrong["status"] == "failed" and "returned a wrong value" in wrong["output"]
    assert sum(t["status"] == "passed" for t in tests.values()) == 1  # leaves its input unchanged


@pytest.mark.skipif(os.geteuid() != 0, reason="setpriv to a normal user needs root")
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_a_normal_users_workers_find_no_secret_either(
    normal_user: tuple[int, int, Path],
) -> None:
    uid, gid, home = normal_user
    course = home / "course"
    for rel in ("solutions", "assignment", "tests/grading"):
        shutil.copytree(ROOT / rel, course / rel, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "assignment.toml", course)
    sub = _submission(home / "sub", ATTACK.read_text())
    out = home / SECRET / "results.json"
    out.parent.mkdir()
    for path in [home, *home.rglob("*")]:
        os.chown(path, uid, gid, follow_symlinks=False)
    proc = _grade(
        sub,
        out,
        "--only",
        "softmax",
        "--pack",
        str(course),
        env={"HOME": str(home)},
        user=f"{uid}:{gid}",
    )
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    tests = _results(out)
    assert not any("SCANNER-BROKEN" in t["output"] for t in tests.values())
    assert tests["softmax of two rows of three scores"]["status"] == "failed"


def _tree(root: int) -> dict[int, tuple[str, bytes, str]]:
    """Every descendant of ``root``: its command line, environment and name (as /proc shows
    them)."""
    # A child between fork and exec (or before it names itself) is still a copy of the grader:
    # its command line, name and environment. It runs nothing of the student's and becomes its
    # own program at exec, so it is left out, or the look would race the grader's own spawns.
    try:
        grader = (
            Path(f"/proc/{root}/cmdline").read_bytes().replace(b"\0", b" ").decode(),
            Path(f"/proc/{root}/comm").read_text().strip(),
        )
    except OSError:
        return {}
    found = {}
    for kids in children_of(root).values():
        for kid in kids:
            try:
                cmd = Path(f"/proc/{kid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                env = Path(f"/proc/{kid}/environ").read_bytes()
                name = Path(f"/proc/{kid}/comm").read_text().strip()
            except OSError:
                continue
            if (cmd, name) != grader:
                found[kid] = (cmd, env, name)
    return found


@pytest.mark.parametrize("prefork_on", ["1", "0"])
def test_the_zygotes_are_forked_from_the_clean_mothers(tmp_path: Path, prefork_on: str) -> None:
    """While a slow submission is graded, every process under the grader is looked at: with
    the mothers, none was started as ``grader.sandbox.worker`` (without them, the zygotes are),
    and none shows the secret in its environment. Each is named for its role, which is how
    ``ps`` and the simulator's OOM report tell forks of one command line apart."""
    slow = (
        "import time as _time\n_fast = softmax\n\n\n"
        "def softmax(s):\n    _time.sleep(1.5)\n    return _fast(s)\n"
    )
    sub = _submission(tmp_path / "sub", slow)
    out = tmp_path / "results.json"
    proc = _grade(sub, out, "--only", "softmax", "--suite", "public", env={prefork.ENV: prefork_on})
    seen: dict[int, tuple[str, bytes, str]] = {}
    while proc.poll() is None:
        seen.update(_tree(proc.pid))
        time.sleep(0.05)
    _, err = proc.communicate()
    assert proc.returncode == 0, err
    assert len(seen) >= 3  # the mothers or zygotes, and a worker
    spawned = [cmd for cmd, _, _ in seen.values() if "grader.sandbox.worker" in cmd]
    names = {name for _, _, name in seen.values()}
    assert {"grader-zygote", "grader-worker"} <= names, names
    if prefork_on == "1":
        assert spawned == []
        assert all(prefork.RESUME in cmd for cmd, _, _ in seen.values())
        assert "grader-mother" in names
    else:
        assert spawned
    assert not any(SECRET.encode() in env for _, env, _ in seen.values())


def _comparable(out: Path) -> str:
    doc = json.loads(out.read_text())
    doc.pop("execution_time")
    for t in doc["tests"]:
        t["extra_data"].pop("duration")
    return re.sub(r"uid[ =]\d+", "uid N", json.dumps(doc, indent=2))


@pytest.mark.slow
def test_the_results_are_those_of_a_grading_without_the_mothers(tmp_path: Path) -> None:
    """The whole grading, a submission with a bug that raises (tracebacks, hints, every suite)."""
    sub = _submission(
        tmp_path / "sub", edit=("return float(np.sum(W * W))", "return float(np.sum(W * W)) / 0")
    )
    outs = []
    for on in ("1", "0"):
        out = tmp_path / on / "results.json"
        out.parent.mkdir()
        proc = _grade(sub, out, env={prefork.ENV: on})
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        outs.append(_comparable(out))
    assert outs[0] == outs[1]
    assert "ZeroDivisionError" in outs[0]
