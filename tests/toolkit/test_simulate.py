"""grader simulate: the autograder zip run as Gradescope runs it; the schema; what students see;
the submission-metadata policies (issue 6, items 3 and 5)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from grader.classroom import policies
from grader.gradescope import package, simulate
from grader.grading import results_json as gradescope
from grader.grading.results import GradingResult, TestOutcome
from grader.sandbox import layers

ROOT = Path(__file__).resolve().parents[2]
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox uids need root")


def outcome(name: str, score: float, max_score: float = 1.0, **kw: Any) -> TestOutcome:
    status = "passed" if score == max_score else "failed"
    return TestOutcome(name=name, number="1", max_score=max_score, score=score, status=status, **kw)


# -- the schema --------------------------------------------------------------------------------


def test_grader_output_follows_the_schema() -> None:
    result = GradingResult(
        tests=(outcome("a", 1.0, tags=("svm_loss",)), outcome("b", 0.0, visibility="hidden")),
        extra_data={"x": 1},
    )
    assert simulate.validate(gradescope.to_json(result)) == ()
    failed = GradingResult(tests=(), grader_error="Traceback ...")
    assert simulate.validate(gradescope.to_json(failed)) == ()


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"visibility": "after_due"}, "visibility"),
        ({"score": "12"}, "score"),
        ({"stdout_visiblity": "hidden"}, "(top level)"),  # a typo Gradescope would ignore
        ({"tests": [{"name": "t", "score": 1, "status": "ok"}]}, "tests/0/status"),
        ({"leaderboard": [{"name": "acc"}]}, "leaderboard/0"),
    ],
)
def test_schema_rejects_what_gradescope_does_not_know(patch: dict[str, Any], where: str) -> None:
    data = {"score": 1.0, "tests": [], **patch}
    errors = simulate.validate(data)
    assert errors and errors[0].startswith(where)


def test_schema_needs_a_score_somewhere() -> None:
    assert simulate.validate({"tests": [{"name": "t", "max_score": 1}]})
    assert simulate.validate({"tests": [{"name": "t", "score": 1, "max_score": 1}]}) == ()
    assert simulate.validate({"score": 3}) == ()


# -- what a student sees ------------------------------------------------------------------------


RESULTS = {
    "score": 6.0,
    "visibility": "after_due_date",
    "tests": [
        {"name": "public one", "score": 1, "max_score": 1, "visibility": "visible"},
        {"name": "hidden one", "score": 2, "max_score": 2},  # inherits after_due_date
        {"name": "published one", "score": 3, "max_score": 4, "visibility": "after_published"},
    ],
}


def test_views_by_visibility_inherit_the_top_level_setting() -> None:
    shown = {s.label: s for s in simulate.by_visibility(RESULTS)}
    assert shown["visible"].tests == ("public one",)
    assert shown["after_due_date"].tests == ("hidden one",)
    assert (shown["after_published"].score, shown["after_published"].max_score) == (3, 4)
    assert shown["hidden"].tests == ()
    assert all(s.total_shown for s in shown.values())
    phases = [len(s.tests) for s in simulate.by_phase(RESULTS)]
    assert phases == [1, 2, 3]
    text = simulate.student_views(RESULTS)
    assert "total score: shown (6)" in text


def test_one_hidden_test_hides_the_total() -> None:
    data = {
        **RESULTS,
        "tests": [
            *RESULTS["tests"],
            {"name": "x", "score": 0, "max_score": 1, "visibility": "hidden"},
        ],
    }
    assert not any(s.total_shown for s in simulate.by_phase(data))
    assert "total score: HIDDEN" in simulate.student_views(data)


# -- policies from submission_metadata.json ---------------------------------------------------


META = simulate.fake_metadata()
RESULT = GradingResult(tests=(outcome("a", 2.0, 2.0), outcome("b", 1.0, 2.0)), output="note")


def test_metadata_recorded_and_nothing_else_changes_by_default() -> None:
    out = policies.apply(RESULT, META)
    assert out.score == RESULT.score and out.output == "note"
    record = out.extra_data["submission"]
    assert record["id"] == META["id"]
    assert record["users"] == META["users"]
    assert record["number"] == 1 and record["days_late"] == 0
    assert "submission" not in RESULT.extra_data  # pure: the input is unchanged
    assert simulate.validate(gradescope.to_json(out)) == ()


def test_late_penalty_from_created_at_not_the_clock() -> None:
    late = {**META, "created_at": "2025-10-10T08:00:00-07:00"}  # due 10-08 23:59: 2 days late
    assert policies.days_late(late) == 2
    off = policies.apply(RESULT, late)
    assert off.score == 3.0
    on = policies.apply(RESULT, late, policies.Policy(late_penalty_per_day=0.1))
    assert on.score == pytest.approx(2.4)
    assert "late penalty 20%" in on.output
    capped = policies.Policy(late_penalty_per_day=0.5, late_penalty_max=0.3)
    assert policies.apply(RESULT, late, capped).score == pytest.approx(2.1)


def test_submission_limit() -> None:
    third = {**META, "previous_submissions": [{"score": 1.0}, {"score": 2.0}]}
    assert policies.submission_number(third) == 3
    assert policies.apply(RESULT, third, policies.Policy(max_submissions=3)).score == 3.0
    over = policies.apply(RESULT, third, policies.Policy(max_submissions=2))
    assert over.score == 0.0 and len(over.tests) == 2
    assert "limit is 2" in over.output


def test_a_grader_error_is_only_recorded() -> None:
    failed = GradingResult(tests=(), grader_error="boom")
    out = policies.apply(failed, META, policies.Policy(max_submissions=1))
    assert out.grader_error == "boom" and out.extra_data["submission"]["id"] == META["id"]


def test_bad_policy_file_says_what(tmp_path: Path) -> None:
    (tmp_path / policies.POLICY_FILE).write_text('{"late_penalty": 0.1}')
    with pytest.raises(ValueError, match="unknown setting"):
        policies.load_policy(tmp_path)
    assert policies.load_policy(tmp_path / "absent") == policies.Policy()


def test_fallback_results_when_the_grader_was_killed(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    assert policies.main(["fallback", str(out), "time limit"]) == 0
    data = json.loads(out.read_text())
    assert data["score"] == 0 and simulate.validate(data) == ()
    assert data["tests"][0]["visibility"] == "hidden"


# -- the zip, run like Gradescope (as root: the sandbox uids) -----------------------------------


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return package.build_autograder(tmp_path_factory.mktemp("sim") / "autograder.zip")


def _check_run(sim: simulate.Simulation, within_memory: bool = True) -> dict[str, Any]:
    assert sim.ok, simulate.describe(sim) + "\n" + sim.log[-3000:]
    assert sim.returncode == 0
    if within_memory:
        assert sim.peak_memory < simulate.MEMORY_LIMIT and not sim.oom_kills
    assert sim.results is not None
    extra = sim.results["extra_data"]
    assert extra["submission"]["id"] == simulate.fake_metadata()["id"]
    if os.geteuid() == 0:
        assert extra["sandbox"]["user"] == layers.OWN_UID
    return sim.results


@pytest.mark.slow
@pytest.mark.asroot
def test_reference_gets_full_marks_through_the_zip(autograder_zip: Path) -> None:
    sim = simulate.simulate(ROOT / "solutions", autograder_zip)
    data = _check_run(sim)
    assert data["score"] == sum(t["max_score"] for t in data["tests"]) > 0
    assert "What a student sees" in simulate.describe(sim)
    assert f"CPU: {sim.cpu}" in simulate.describe(sim)


@pytest.mark.slow
@pytest.mark.asroot
def test_stubs_get_zero_through_the_zip(autograder_zip: Path, stubs: Path, tmp_path: Path) -> None:
    # uploaded as a zip of the files: Gradescope unpacks it into submission/
    upload = Path(shutil.make_archive(str(tmp_path / "upload"), "zip", stubs))
    data = _check_run(simulate.simulate(upload, autograder_zip))
    assert data["score"] == 0
    assert all(t["score"] == 0 for t in data["tests"])


@pytest.mark.slow
@pytest.mark.asroot
def test_notebook_through_the_zip(autograder_zip: Path) -> None:
    notebooks = sorted((ROOT / "examples" / "notebook").glob("*.ipynb"))
    if not notebooks:
        pytest.skip("no example notebook")
    data = _check_run(simulate.simulate(notebooks[0], autograder_zip))
    assert data["score"] > 0
    assert len(data["extra_data"]["files"]) == 6


PROBE = """
from pathlib import Path

ROOT = Path({root!r})


def _try(path):
    try:
        return "read %d bytes" % len(Path(path).read_bytes())
    except Exception as exc:
        return type(exc).__name__


SECRET = _try(ROOT / "source" / "solutions" / "losses.py")
SOURCE = _try(ROOT / "source" / "requirements.txt")
CONTROL = _try(ROOT.parent / "control.txt")


def softmax(scores):
    raise RuntimeError("PROBE secret=%s source=%s control=%s" % (SECRET, SOURCE, CONTROL))
"""


@pytest.mark.slow
@pytest.mark.asroot
@root_only
@pytest.mark.parametrize("off", ["", "landlock,mountns"])
def test_the_sandbox_uid_cannot_read_source(autograder_zip: Path, tmp_path: Path, off: str) -> None:
    """With the allowlist nothing outside it is readable, the control file included; without it
    (a kernel with no Landlock, a container with no mount namespace) setup.sh's permission step
    and the engine's fallback close source/ while the world-readable control stays readable."""
    env = {layers.UNSAFE_DISABLE: off} if off else {}  # simulate drops the GRADER_* of ours
    # Under /tmp, not pytest's tmp_path (mode 0700 under /tmp/pytest-of-root): the sandbox uid
    # must be able to reach the root, so that only source/'s own mode keeps it out.
    work = Path(tempfile.mkdtemp(prefix="gradescope-probe-"))
    try:
        (work / "control.txt").write_text("hello")
        (work / "control.txt").chmod(0o644)
        sub = tmp_path / "sub"
        sub.mkdir()
        (sub / "losses.py").write_text(PROBE.format(root=str(work / "autograder")))
        sim = simulate.simulate(sub, autograder_zip, work=work, keep=True, env=env)
        data = _check_run(sim)
        outputs = "\n".join(t["output"] for t in data["tests"] if "softmax" in t["tags"])
        if off:
            # solutions/ is closed twice (setup.sh and the engine's protect_trusted_files);
            # requirements.txt only by setup.sh's permission step, which this checks.
            expected = "secret=PermissionError source=PermissionError control=read 5 bytes"
            assert expected in outputs, outputs[:2000]
        else:
            probe = re.search(r"PROBE (secret=\S+ source=\S+ control=\S+)", outputs)
            assert probe is not None, outputs[:2000]
            assert "read" not in probe.group(1), probe.group(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


HOG = """
import numpy as np


def softmax(scores):
    blocks = [np.ones(25 * 2**20 // 8) for _ in range(48)]  # 1.2 GB, every page touched
    return blocks[0][:1]
"""


@pytest.mark.slow
@pytest.mark.asroot
def test_a_memory_hog_costs_its_tests_not_the_run(autograder_zip: Path, tmp_path: Path) -> None:
    """Past 768 MB the container's OOM killer takes the biggest process: the student's worker
    (or its own rlimit stops it first); the grader goes on and reports the rest."""
    sub = tmp_path / "hog"
    shutil.copytree(ROOT / "solutions", sub)
    (sub / "losses.py").write_text((sub / "losses.py").read_text() + HOG)
    sim = simulate.simulate(sub, autograder_zip)
    data = _check_run(sim, within_memory=False)
    assert all(kill.split()[2] == "(grader-worker:" for kill in sim.oom_kills), sim.oom_kills
    softmax = [t for t in data["tests"] if t["tags"] == ["softmax"]]
    assert softmax and all(t["score"] == 0 for t in softmax)
    others = [t for t in data["tests"] if "softmax" not in t["tags"]]
    assert all(t["score"] == t["max_score"] for t in others)


@pytest.mark.slow
def test_time_limit_kills_the_whole_run(autograder_zip: Path) -> None:
    sim = simulate.simulate(ROOT / "solutions", autograder_zip, time_limit=1.0)
    assert sim.killed == "time limit" and not sim.ok
    assert sim.results is None  # Gradescope: 0 and no tests
    assert "KILLED at the time limit" in simulate.describe(sim)


_BURN = """
import resource, time
start = time.monotonic()
while time.monotonic() - start < 1.5:
    pass
r = resource.getrusage(resource.RUSAGE_SELF)
print(r.ru_utime + r.ru_stime)
"""


@root_only
def test_the_run_is_held_to_half_a_cpu() -> None:
    with simulate.cpu_quota(simulate.CPU_LIMIT) as (procs, what):
        if procs is None:
            pytest.skip(f"this machine has no cgroup to make: {what}")
        assert what.startswith("0.5 CPU")
        burn = subprocess.run(
            ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(procs), sys.executable, "-c", _BURN],
            capture_output=True,
            text=True,
            check=True,
        )
    # 1.5 s of wall time spinning: ~1.5 CPU-s free, ~0.75 under the quota (plus one period)
    assert float(burn.stdout) < 1.0
    group = Path(what.split("(cgroup ", 1)[1].rstrip(")"))
    assert group.name.startswith("grader-sim-") and not group.exists()  # removed afterwards


def test_no_quota_asked_or_possible_says_so() -> None:
    with simulate.cpu_quota(None) as (procs, what):
        assert procs is None and what == "no CPU limit (asked for none)"


def test_cli_refuses_a_negative_cpu_quota(capsys: pytest.CaptureFixture[str]) -> None:
    from grader import cli

    code = cli.main(["simulate", str(ROOT / "solutions"), "--cpus", "-1"])
    assert code == cli.ExitCode.USAGE
    assert "--cpus must be 0" in capsys.readouterr().err
