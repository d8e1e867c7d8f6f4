"""grader package: the autograder zip Gradescope gets and the bundle students get (issue 6)."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from grader.authoring import pack
from grader.classroom.policies import Policy
from grader.cli import main
from grader.gradescope import package

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return package.build_autograder(tmp_path_factory.mktemp("pkg") / "autograder.zip")


def _names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return zf.namelist()


def solution_lines(min_length: int = 25) -> set[str]:
    """Stripped lines of the reference's solution regions longer than ``min_length``.

    A line whose text also stands outside the solution regions is public by design (the
    docstring of ``adam_step`` gives its update rule as a formula, that of ``minibatch_sgd``
    says ``rng = np.random.default_rng(seed)``; the stubs keep both): it is left out.
    """
    inside_lines: set[str] = set()
    outside_lines: list[str] = []
    for path in sorted((ROOT / "solutions").glob("*.py")):
        inside = False
        for line in path.read_text().splitlines():
            text = line.strip()
            if text.startswith("# BEGIN SOLUTION"):
                inside = True
            elif text.startswith("# END SOLUTION"):
                inside = False
            elif inside and len(text) > min_length:
                inside_lines.add(text)
            elif not inside:
                outside_lines.append(text)
    public = "\n".join(outside_lines)
    return {line for line in inside_lines if line not in public}


# -- the autograder zip ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["setup.sh", "run_autograder"])
def test_scripts_at_the_root_executable_lf_with_shebang(autograder_zip: Path, name: str) -> None:
    with zipfile.ZipFile(autograder_zip) as zf:
        info = zf.getinfo(name)  # at the root: Gradescope wants the files, not a folder
        data = zf.read(name)
    mode = info.external_attr >> 16
    assert info.create_system == 3
    assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o755
    assert data.startswith(b"#!/usr/bin/env bash\n")
    assert b"\r" not in data
    assert not re.search(rb"@[A-Z_]+@", data), "a placeholder was left unfilled"


def test_zip_holds_the_grader_suites_and_reference_and_nothing_else(autograder_zip: Path) -> None:
    names = _names(autograder_zip)
    for required in (
        "pyproject.toml",
        "assignment.toml",
        "README.md",
        "requirements.txt",
        "policies.json",
        "grader/__init__.py",
        "grader/sandbox/worker.py",
        "grader/gradescope/gradescope_schema.json",
        "tests/grading/pytest.ini",
    ):
        assert required in names
    assert {f"solutions/{f}" for f in pack.active().files} <= set(names)
    for folder in ("tests/grading/public/", "tests/grading/hidden/"):
        assert any(n.startswith(folder) for n in names), folder
    if (ROOT / "tests/grading/bugs.py").exists():
        assert "tests/grading/bugs.py" in names
    allowed = ("grader/", "solutions/", "tests/grading/")
    roots = {"setup.sh", "run_autograder", "pyproject.toml", "README.md", "requirements.txt"}
    roots.add("assignment.toml")  # the pack's manifest
    for name in names:
        assert name in roots | {"policies.json"} or name.startswith(allowed), name
        assert "__pycache__" not in name and not name.endswith(".pyc"), name


def test_requirements_pin_the_installed_versions(autograder_zip: Path) -> None:
    from importlib.metadata import version

    with zipfile.ZipFile(autograder_zip) as zf:
        reqs = zf.read("requirements.txt").decode()
        setup = zf.read("setup.sh").decode()
    pins = dict(line.split("==") for line in reqs.splitlines() if line and not line.startswith("#"))
    for name in ("numpy", "pytest", "hypothesis", "pytest-timeout", "nbformat", "pyseccomp"):
        assert pins[name] == version(name)
    assert "torch" not in pins  # from PyTorch's CPU index, by setup.sh
    torch_version = version("torch").split("+")[0]
    assert f'DEFAULT_TORCH_SPEC="torch=={torch_version}"' in setup
    assert "https://download.pytorch.org/whl/cpu" in setup
    assert "--no-deps" in setup


def test_same_tree_same_bytes(autograder_zip: Path, tmp_path: Path) -> None:
    again = package.build_autograder(tmp_path / "again.zip")
    assert again.read_bytes() == autograder_zip.read_bytes()
    with zipfile.ZipFile(again) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {package.ZIP_TIME}


def test_policy_goes_into_the_zip(tmp_path: Path) -> None:
    out = tmp_path / "late.zip"
    assert main(["package", "--out", str(out), "--late-penalty-per-day", "0.1"]) == 0
    with zipfile.ZipFile(out) as zf:
        data = json.loads(zf.read("policies.json"))
    assert Policy(**data) == Policy(late_penalty_per_day=0.1)
    assert main(["package", "--out", str(out), "--max-submissions", "0"]) == 3


@pytest.mark.parametrize("name", ["setup.sh", "run_autograder"])
def test_scripts_parse_and_pass_shellcheck(
    autograder_zip: Path, tmp_path: Path, name: str, shellcheck: str
) -> None:
    with zipfile.ZipFile(autograder_zip) as zf:
        script = tmp_path / name
        script.write_bytes(zf.read(name))
    subprocess.run(["bash", "-n", str(script)], check=True)
    done = subprocess.run([shellcheck, str(script)], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_permission_step_closes_source_and_results(autograder_zip: Path, tmp_path: Path) -> None:
    from grader.gradescope.simulate import extract

    root = tmp_path / "autograder"
    extract(autograder_zip, root / "source")
    (root / "venv" / "bin").mkdir(parents=True)
    (root / "venv" / "bin" / "python").write_text("")
    subprocess.run(
        ["bash", str(root / "source/setup.sh"), "--permissions-only", str(root)], check=True
    )
    for closed in ("source", "results", "source/solutions", "source/tests/grading/hidden"):
        assert stat.S_IMODE((root / closed).stat().st_mode) & 0o077 == 0, closed
    assert (root / "venv/bin/python").stat().st_mode & 0o004  # the sandbox uids run it
    assert (root.stat().st_mode & 0o001) != 0  # and may traverse the root to reach it


# -- the student bundle ------------------------------------------------------------------------


def test_student_bundle_has_the_assignment_and_public_tests(student_zip: Path) -> None:
    names = set(_names(student_zip))
    assert {f"assignment/{f}" for f in pack.active().files} <= names
    assert "assignment/assignment.ipynb" in names
    assert "assignment/README.md" in names
    assert any(n.startswith("tests/grading/public/test_") for n in names)
    assert {"README.md", "requirements.txt", "grader/__init__.py"} <= names
    assert package.ANSWERS_ENTRY in names  # the reference's answers (tests/toolkit/test_bundle.py)


def test_student_bundle_holds_nothing_hidden(student_zip: Path) -> None:
    names = _names(student_zip)
    for name in names:
        assert not name.startswith(("solutions/", "tests/grading/hidden/")), name
        assert not name.endswith("bugs.py"), name
        assert not name.startswith(("tests/toolkit/", "tests/corpus/", "examples/")), name
    hidden_names = {p.name for p in (ROOT / "tests/grading/hidden").glob("*.py")}
    assert not hidden_names & {Path(n).name for n in names}


def test_no_line_of_the_reference_is_in_the_student_bundle(
    student_zip: Path, autograder_zip: Path
) -> None:
    lines = solution_lines()
    assert len(lines) > 50  # the check below is not vacuous

    def leaked(path: Path) -> list[tuple[str, str]]:
        found = []
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                text = zf.read(name).decode("utf-8", errors="replace")
                # a notebook holds source lines as JSON strings: compare their decoded text too
                candidates = {line.strip() for line in text.splitlines()}
                if name.endswith(".ipynb"):
                    cells = json.loads(text)["cells"]
                    candidates |= {
                        line.strip() for c in cells for line in "".join(c["source"]).splitlines()
                    }
                found += [(name, line) for line in lines & candidates]
        return found

    assert leaked(student_zip) == []
    assert leaked(autograder_zip)  # the same check finds the reference where it belongs


def test_student_bundle_is_refused_when_the_answers_would_be_wrong(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The answers are recorded by grading the reference: it must pass, and every call be kept."""
    from grader.grading import answers
    from grader.grading.results import GradingResult, TestOutcome

    def failing(name: str) -> TestOutcome:
        return TestOutcome(name, "1.1", 1.0, 0.0, "failed", nodeid=name)

    def fake(result: GradingResult, problems: list[str]) -> None:
        monkeypatch.setattr(
            answers, "record", lambda live, run, fingerprints: (answers.Answers(), result, problems)
        )

    fake(GradingResult(tests=(failing("public/test_losses.py::test_softmax_small"),)), [])
    with pytest.raises(package.PackageError, match="test_softmax_small"):
        package.record_public_answers()
    fake(GradingResult(tests=(), grader_error="Traceback: boom"), [])
    with pytest.raises(package.PackageError, match="boom"):
        package.record_public_answers()
    fake(GradingResult(tests=()), ["svm_loss: a call with a value of type object"])
    with pytest.raises(package.PackageError, match="cannot be recorded"):
        package.record_public_answers()
