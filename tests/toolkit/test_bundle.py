"""The student bundle on its own: the public tests run from it without the reference (issue 7).

Each test unpacks a fresh bundle (``grader package --student``) and runs what a student runs,
in a subprocess whose grader is the bundle's own (``GRADER_*`` and ``PYTHONPATH`` point inside
it; there is no ``solutions/``): ``python -m grader check``, ``pytest`` in ``assignment/``, and the
notebook's ``check(...)``. The per-test outcomes (status, score, message) must be those of the
same submission graded here with the live reference.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader import cli, messages
from grader.authoring import pack
from grader.gradescope import package
from grader.grading import answers, engine
from grader.sandbox.host import Mother

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

#: ``python -m grader check`` as the CLI runs it, keeping the graded outcomes for comparison.
RUNNER = """
import json, sys
from pathlib import Path

import grader
from grader import cli, messages
from grader.authoring import pack
from grader.grading import answers, engine

results = []
grade = engine.grade


def keep(*args, **kwargs):
    results.append(grade(*args, **kwargs))
    return results[-1]


engine.grade = keep
code = cli.main(["check", *sys.argv[2:]])
replay = answers.replay(pack.active().answers) if pack.active().answers.is_file() else None
Path(sys.argv[1]).write_text(json.dumps({
    "code": int(code),
    "grader": grader.__file__,
    "solutions": str(pack.active().solutions),
    "used": len(replay.used) if replay else None,
    "recorded": len(replay.answers.table) if replay else None,
    "tests": {t.nodeid: [t.status, t.score, t.output] for r in results for t in r.tests},
}))
raise SystemExit(int(code))
"""


@pytest.fixture
def bundle(student_zip: Path, tmp_path: Path) -> Path:
    """A freshly unpacked student bundle."""
    dest = tmp_path / "bundle"
    with zipfile.ZipFile(student_zip) as zf:
        zf.extractall(dest)
    assert not (dest / "solutions").exists()
    return dest


def bundle_env(bundle: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADER_", "PYTHON"))}
    env.update(
        GRADER_ROOT=str(bundle),
        GRADER_SOLUTIONS=str(bundle / "solutions"),
        GRADER_SUITES=str(bundle / "tests" / "grading"),
        PYTHONPATH=f"{bundle}{os.pathsep}{_without_the_repos_grader(bundle.parent)}",
    )
    return env


#: Run by ``site`` after the venv's .pth files: it takes out the finder of this repository's
#: editable install, which would otherwise serve ``grader.classroom`` and any other module the
#: bundle lacks from the repository (a student's venv has no such finder).
_NO_EDITABLE = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
"""


def _without_the_repos_grader(folder: Path) -> Path:
    site = folder / "site-without-editable"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(_NO_EDITABLE)
    return site


def run_in(bundle: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=bundle_env(bundle),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def check_in_bundle(bundle: Path, tmp_path: Path) -> tuple[dict[str, Any], str]:
    """``python -m grader check`` (its default: ``assignment/``) in the bundle."""
    out = tmp_path / "check.json"
    proc = run_in(bundle, bundle, "-c", RUNNER, str(out))
    assert out.exists(), proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    assert data["code"] == proc.returncode
    assert Path(data["grader"]).resolve().is_relative_to(bundle.resolve())  # the bundle's grader
    assert not Path(data["solutions"]).exists()
    return data, proc.stdout


def hand_in(bundle: Path, folder: Path) -> None:
    """The student's files: ``folder``'s six modules over the bundle's stubs."""
    for name in pack.active().files:
        shutil.copyfile(folder / name, bundle / "assignment" / name)


@pytest.fixture(scope="module")
def live_mother() -> Any:
    m = Mother()
    yield m
    m.close()


def live(folder: Path, mother: Mother) -> dict[str, list[Any]]:
    """The same submission graded here, by the public suites with the reference itself."""
    result = engine.grade(folder, engine.Options(suites=("public",)), mother=mother)
    assert result.grader_error is None, result.grader_error
    return {t.nodeid: [t.status, t.score, t.output] for t in result.tests}


def assert_same_outcomes(bundled: dict[str, list[Any]], reference: dict[str, list[Any]]) -> None:
    assert sorted(bundled) == sorted(reference)
    differ = {k: (bundled[k], reference[k]) for k in reference if bundled[k] != reference[k]}
    assert not differ, json.dumps(differ, indent=1)[:4000]


def test_reference_as_the_students_files_passes_every_public_test(
    bundle: Path, tmp_path: Path, live_mother: Mother
) -> None:
    hand_in(bundle, ROOT / "solutions")
    data, report = check_in_bundle(bundle, tmp_path)
    assert data["code"] == cli.ExitCode.OK, report
    assert data["tests"] and all(v[0] == "passed" for v in data["tests"].values()), report
    assert "Total: " in report and " 0 of " not in report
    # Every recorded answer is one the public tests ask for: nothing else is in the file.
    assert data["used"] == data["recorded"] > 0
    assert_same_outcomes(data["tests"], live(ROOT / "solutions", live_mother))


def test_stubs_fail_every_public_test_as_not_implemented(
    bundle: Path, tmp_path: Path, live_mother: Mother, stubs: Path
) -> None:
    data, report = check_in_bundle(bundle, tmp_path)
    assert data["code"] == cli.ExitCode.FAILED, report
    assert all(v[0] == "failed" for v in data["tests"].values())
    assert all("is not implemented yet" in v[2] for v in data["tests"].values())
    assert "Total: 0/" in report
    assert_same_outcomes(data["tests"], live(stubs, live_mother))


def test_buggy_example_gets_the_failures_and_hints_of_the_live_grading(
    bundle: Path, tmp_path: Path, live_mother: Mother
) -> None:
    hand_in(bundle, ROOT / "examples" / "buggy")
    data, report = check_in_bundle(bundle, tmp_path)
    assert data["code"] == cli.ExitCode.FAILED
    failed = {k for k, v in data["tests"].items() if v[0] == "failed"}
    passed = {k for k, v in data["tests"].items() if v[0] == "passed"}
    assert failed and passed
    assert "hint: your loss is exactly `margin` too high" in report  # a recorded hint
    # gradient_check is graded with the reference numeric_gradient (a recorded stand-in, its
    # callable f called back): the buggy numeric_gradient costs nothing there.
    assert all(data["tests"][k][0] == "passed" for k in data["tests"] if "gradient_check" in k), (
        report
    )
    assert_same_outcomes(data["tests"], live(ROOT / "examples" / "buggy", live_mother))


def test_pytest_and_the_notebook_helper_run_in_the_bundles_assignment(bundle: Path) -> None:
    hand_in(bundle, ROOT / "solutions")
    work = bundle / "assignment"
    proc = run_in(bundle, work, "-m", "pytest", "-p", "no:randomly")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
    helper = (
        "from grader.grading.check import check; raise SystemExit(0 if check('svm_loss') else 1)"
    )
    proc = run_in(bundle, work, "-c", helper)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "ok   svm_loss" in proc.stdout


def instructor_only(name: str) -> bool:
    """A file of the instructor's side (issue 29): the packages of the staff's commands (batch,
    export, report, regrade, similarity, limits, demo; package, simulate), authoring beyond the
    manifest's reader (assign, new), and the maintainers' tools (the bare-system harness)."""
    return name.startswith(
        ("grader/classroom/", "grader/gradescope/", "grader/authoring/", "tools/")
    ) and name not in ("grader/authoring/__init__.py", "grader/authoring/pack.py")


def test_the_bundle_holds_what_check_runs_and_no_instructor_module(student_zip: Path) -> None:
    with zipfile.ZipFile(student_zip) as zf:
        names = zf.namelist()
    shipped = sorted(n for n in names if n.startswith(("grader/", "tools/")))
    assert [n for n in shipped if instructor_only(n)] == []
    assert not any("e2e" in n for n in names)
    # The predicate sees what the repository has on the instructor's side (so it can fail)...
    repo = sorted(
        p.relative_to(ROOT).as_posix()
        for top in ("grader", "tools")
        for p in (ROOT / top).rglob("*.py")
        if "__pycache__" not in p.parts
    )
    left_out = [n for n in repo if instructor_only(n)]
    assert "grader/classroom/batch.py" in left_out and "grader/gradescope/package.py" in left_out
    assert "grader/authoring/assign.py" in left_out and "tools/gradescope_e2e.py" in left_out
    # ...and the bundle has every other module, each grading and sandbox module included.
    assert [n for n in shipped if n.endswith(".py")] == [n for n in repo if n not in left_out]
    assert "grader/py.typed" in shipped


def test_the_bundles_pyproject_names_only_the_packages_it_holds(bundle: Path) -> None:
    import tomllib

    listed = tomllib.loads((bundle / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "grader.grading" in listed["packages"] and "grader.classroom" not in listed["packages"]
    for name in listed["packages"]:
        assert (bundle / name.replace(".", "/") / "__init__.py").is_file(), name
    assert set(listed.get("package-data", {})) <= set(listed["packages"])


@pytest.mark.parametrize(
    "argv", [["batch", "assignment", "--out", "o"], ["package", "--out", "a.zip"]]
)
def test_an_instructors_command_in_the_bundle_says_it_is_not_there(
    bundle: Path, argv: list[str]
) -> None:
    proc = run_in(bundle, bundle, "-m", "grader", *argv)
    assert proc.returncode == cli.ExitCode.USAGE, proc.stdout + proc.stderr
    assert proc.stderr.strip() == messages.NOT_IN_BUNDLE.format(command=argv[0])
    assert "Traceback" not in proc.stderr


def test_the_answers_are_data_of_the_public_tests_only(student_zip: Path) -> None:
    from test_package import solution_lines

    with zipfile.ZipFile(student_zip) as zf:
        data = zf.read(package.ANSWERS_ENTRY)
    recorded = answers.Answers.from_bytes(data)  # the strict decoder: no callables, no pickle
    assert set(recorded.signatures) == {
        n for n in pack.active().module_of if n not in pack.active().classes
    }
    texts = {str(h) for entries in recorded.hints.values() for h, _ in entries}
    assert texts, "no hint recorded"
    lines = solution_lines()
    assert not [(t, line) for t in texts for line in lines if line in t]


OWN_SOFTMAX = """

# ---- softmax_loss_and_grad through the student's own softmax ----
from losses import softmax


def softmax_loss_and_grad(W, X, y, reg):
    N = X.shape[0]
    S = X @ W
    P = softmax(S)
    # the loss by log-sum-exp (finite at |scores| = 1e4), the gradient through softmax
    m = np.max(S, axis=1, keepdims=True)
    log_p = S - m - np.log(np.sum(np.exp(S - m), axis=1, keepdims=True))
    loss = -np.mean(log_p[np.arange(N), y]) + reg * np.sum(W * W)
    dS = P.copy()
    dS[np.arange(N), y] -= 1
    return float(loss), X.T @ (dS / N) + 2 * reg * W
"""
#: A softmax normalized over the whole matrix, not per row.
GLOBAL_SOFTMAX = """

def softmax(scores):
    e = np.exp(scores - np.max(scores))
    return e / np.sum(e)
"""


@pytest.mark.parametrize("own_softmax_correct", [True, False], ids=["correct", "wrong"])
def test_a_call_the_recording_lacks_goes_to_the_students_own_function(
    student_zip: Path, tmp_path: Path, live_mother: Mother, own_softmax_correct: bool
) -> None:
    """The reference's softmax_loss_and_grad never calls softmax, so no stand-in answer for it
    was recorded: in the bundle the student's own softmax answers (the worker's ``_or_own``);
    graded with the reference, the reference's does."""
    folder = tmp_path / "submission"
    folder.mkdir()
    for name in pack.active().files:
        shutil.copyfile(ROOT / "solutions" / name, folder / name)
    with (folder / "gradients.py").open("a") as f:
        f.write(OWN_SOFTMAX)
    if not own_softmax_correct:
        with (folder / "losses.py").open("a") as f:
            f.write(GLOBAL_SOFTMAX)
    with zipfile.ZipFile(student_zip) as zf:
        replay = answers.Replay(answers.Answers.from_bytes(zf.read(package.ANSWERS_ENTRY)))
    options = engine.Options(suites=("public",), only="softmax_loss_and_grad")
    with answers.standing_in(replay):
        bundled = engine.grade(folder, options, mother=live_mother)
    # (counted per test: the last one's) no call of the test's own missed, the stand-in did
    assert replay.misses == 0 and replay.own_calls > 0
    graded = engine.grade(folder, options, mother=live_mother)
    assert bundled.tests and graded.tests
    assert all(t.status == "passed" for t in graded.tests)  # the reference's softmax
    # with X = 0 (the penalty's public test) dW does not depend on softmax: it passes either way
    wrong = {t.name for t in bundled.tests if t.status == "failed"}
    depends = {t.name for t in bundled.tests if not t.nodeid.endswith("_penalty")}
    assert wrong == (set() if own_softmax_correct else depends) and depends


# -- Hypothesis through the whole chain: a suite of properties, recorded, then replayed ----------

PROPERTIES = '''
import os

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from grader.grading.checks import compare

W = arrays(np.float64, (2, 3), elements=st.floats(-10, 10, allow_subnormal=False))


@pytest.mark.points(1)
@pytest.mark.tags("l2_penalty")
@given(W=W)
def test_l2_property(student, reference, W):
    """l2_penalty of a random 2x3 matrix"""
    with open(os.environ["SEEN"], "a") as f:
        f.write(W.tobytes().hex() + "\\n")
    compare(student, reference, "l2_penalty", W)


@pytest.mark.points(1)
@pytest.mark.tags("ridge_fit")
@given(lam=st.floats(0.1, 10))
def test_reference_on_the_students_output(student, reference, lam):
    """ridge_fit, checked by the reference on what the student returned (unrecordable)"""
    w = student.ridge_fit(np.eye(2), np.ones(2), lam)
    compare(student, reference, "ridge_fit", np.eye(2), np.asarray(w, dtype=float), lam)
'''

GRADE = """
import json, sys
from pathlib import Path
from grader.gradescope import package
from grader.grading import engine

out, what = Path(sys.argv[1]), sys.argv[2]
if what == "record":  # (refused if the reference fails a test)
    Path(sys.argv[4]).write_bytes(package.record_public_answers())
    out.write_text("{}")
else:
    r = engine.grade(Path(what), engine.Options(suites=("public",)))
    assert r.grader_error is None, r.grader_error
    out.write_text(json.dumps({t.nodeid.split("::")[-1]: [t.status, t.output] for t in r.tests}))
"""

WRONG = """

def l2_penalty(W):
    return float(np.sum(W**2) + (np.max(np.abs(W)) > 3))


def ridge_fit(X, y, lam):
    return np.linalg.solve(X.T @ X + 1.001 * lam * np.eye(X.shape[1]), X.T @ y)
"""


def test_hypothesis_properties_replay_their_examples_and_shrink_within_the_recording(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    suites = repo / "tests" / "grading"
    (suites / "public").mkdir(parents=True)
    shutil.copyfile(ROOT / "tests" / "grading" / "pytest.ini", suites / "pytest.ini")
    (suites / "public" / "test_properties.py").write_text(PROPERTIES)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    for name in pack.active().files:
        shutil.copyfile(ROOT / "solutions" / name, wrong / name)
    with (wrong / "losses.py").open("a") as f:
        f.write(WRONG)

    def run(what: str, *more: str, solutions: Path, seen: Path) -> dict[str, list[str]]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
        env.update(GRADER_SUITES=str(suites), GRADER_SOLUTIONS=str(solutions), SEEN=str(seen))
        out = tmp_path / "out.json"
        proc = subprocess.run(
            [sys.executable, "-c", GRADE, str(out), what, *more],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return dict(json.loads(out.read_text()))

    def examples(seen: Path) -> list[str]:
        return seen.read_text().split()

    answers_file = suites / "public_answers.frame"
    recorded = tmp_path / "recorded.txt"
    run("record", str(repo), str(answers_file), solutions=ROOT / "solutions", seen=recorded)
    recorded_examples = examples(recorded)
    assert len(recorded_examples) > 20
    absent = tmp_path / "solutions-absent"

    # The reference replayed: the same examples in the same order, every test passed.
    again = tmp_path / "again.txt"
    outcomes = run(str(ROOT / "solutions"), solutions=absent, seen=again)
    assert {k: v[0] for k, v in outcomes.items()} == {
        "test_l2_property": "passed",
        "test_reference_on_the_students_output": "passed",
    }
    assert examples(again) == recorded_examples

    # A student who fails midway: the failure is theirs, found on a recorded example, and
    # shrinking (which tries inputs nobody recorded) reports a recorded example.
    failing = tmp_path / "failing.txt"
    outcomes = run(str(wrong), solutions=absent, seen=failing)
    status, message = outcomes["test_l2_property"]
    assert status == "failed" and "`l2_penalty` returned a wrong value" in message, message
    tried = examples(failing)
    largest = [float(np.max(np.abs(np.frombuffer(bytes.fromhex(w))))) for w in tried]
    first = next(i for i, x in enumerate(largest) if x > 3)  # the first example it gets wrong
    assert tried[: first + 1] == recorded_examples[: first + 1]
    assert set(tried) - set(recorded_examples)  # shrinking did leave the recording
    # The reference checked on the student's own output: nothing recorded fits, it says so.
    status, message = outcomes["test_reference_on_the_students_output"]
    assert status == "failed" and "it runs when you submit" in message, message
