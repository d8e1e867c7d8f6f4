"""The second pack, ``packs/backprop`` (backpropagation through a two-layer network), end to end.

Graded through the command line (``python -m grader grade --pack``), each grading in a process
of its own: the active pack is per process, and this session's other tests grade the
repository's own pack. What must hold: the reference gets full marks, the generated stubs get 0,
every known bug of the pack loses points in a test tagged with its own function and in no test
tagged only with other functions, and the committed ``assignment/`` is what ``grader assign``
generates from the solutions and the notebook narrative.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from grader.testing import Bug

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "packs" / "backprop"
SOLUTIONS = PACK / "solutions"
FUNCTIONS = {
    "layers": ("affine_forward", "affine_backward", "relu_forward", "relu_backward"),
    "net": ("two_layer_loss",),
}
MODULE_OF = {f: m for m, fs in FUNCTIONS.items() for f in fs}


def _bugs() -> tuple[Bug, ...]:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "backprop_pack_bugs", PACK / "tests" / "grading" / "bugs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.BUGS)


BUGS = _bugs()


def grader(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grader", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def grade(folder: Path, out: Path) -> dict[str, Any]:
    """results.json of grading ``folder`` with the backprop pack."""
    done = grader("grade", "--pack", str(PACK), str(folder), "--out", str(out))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return doc


def describe(tests: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"  {t['extra_data'].get('nodeid', t['name'])} {t['tags']}: {t['output'][:300]!r}"
        for t in tests
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("backprop")


@pytest.fixture(scope="module")
def graded(work: Path) -> Any:
    """bug id (or "reference") -> the results of that submission (each graded once)."""

    @cache
    def run(bug_id: str) -> dict[str, Any]:
        folder = work / bug_id
        folder.mkdir()
        for src in sorted(SOLUTIONS.glob("*.py")):
            shutil.copy(src, folder / src.name)
        if bug_id != "reference":
            bug = next(b for b in BUGS if b.id == bug_id)
            path = folder / bug.file
            path.write_text(bug.patch(path.read_text(encoding="utf-8")), encoding="utf-8")
        return grade(folder, work / f"{bug_id}.json")

    return run


# -- the pack's content --------------------------------------------------------------------------


def test_manifest_names_every_function_of_the_solutions() -> None:
    from grader.authoring import pack

    loaded = pack.load(PACK)
    assert loaded.name == "backprop"
    assert {m.name: m.functions for m in loaded.modules} == FUNCTIONS
    assert all(m.hidden and not m.torch for m in loaded.modules)


def test_library_covers_every_function() -> None:
    assert 8 <= len(BUGS) <= 12
    assert len({b.id for b in BUGS}) == len(BUGS)
    assert {b.function for b in BUGS} == set(MODULE_OF)


@pytest.mark.parametrize("bug", BUGS, ids=lambda b: b.id)
def test_bug_patches_one_line_of_its_functions_file(bug: Bug) -> None:
    assert bug.file == f"{MODULE_OF[bug.function]}.py"
    source = (SOLUTIONS / bug.file).read_text(encoding="utf-8")
    patched = bug.patch(source)  # raises unless `old` is on exactly one line
    changed = [
        (a, b) for a, b in zip(source.splitlines(), patched.splitlines(), strict=True) if a != b
    ]
    assert len(changed) == 1
    compile(patched, bug.file, "exec")
    assert bug.hint.strip() and bug.old not in bug.hint


def test_solutions_use_no_torch() -> None:
    for path in SOLUTIONS.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import torch" not in text and "from torch" not in text, path.name


def test_assignment_is_not_stale() -> None:
    done = grader("assign", "--pack", str(PACK), "--check")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


# -- graded end to end ----------------------------------------------------------------------------


@pytest.mark.slow
def test_reference_gets_full_marks(graded: Any) -> None:
    doc = graded("reference")
    failed = [t for t in doc["tests"] if t["status"] == "failed"]
    assert not failed, describe(failed)
    total = sum(t["max_score"] for t in doc["tests"])
    assert doc["score"] == total > 0
    tagged = {tag for t in doc["tests"] for tag in t["tags"]}
    assert tagged == set(MODULE_OF)


@pytest.mark.slow
def test_stubs_get_zero(work: Path) -> None:
    stubs = work / "stubs"
    stubs.mkdir()
    for name in ("layers.py", "net.py"):
        shutil.copy(PACK / "assignment" / name, stubs / name)
    doc = grade(stubs, work / "stubs.json")
    assert doc["tests"]
    assert doc["score"] == 0
    passed = [t for t in doc["tests"] if t["status"] == "passed" and t["max_score"] > 0]
    assert not passed, describe(passed)


@pytest.mark.slow
@pytest.mark.parametrize("bug", BUGS, ids=lambda b: b.id)
def test_bug_is_caught_by_its_own_tests_only(bug: Bug, graded: Any) -> None:
    failed = [t for t in graded(bug.id)["tests"] if t["status"] == "failed"]
    own = [t for t in failed if bug.function in t["tags"]]
    elsewhere = [t for t in failed if bug.function not in t["tags"]]
    assert own, f"no test tagged {bug.function!r} fails on bug {bug.id!r} ({bug.hint})"
    assert not elsewhere, f"bug {bug.id!r} also costs points elsewhere:\n{describe(elsewhere)}"


def test_the_packs_gradescope_zip_grades_the_reference_in_the_simulator(tmp_path: Path) -> None:
    """`grader package --pack` and `grader simulate --pack`: the zip holds this pack (its
    manifest, solutions and suites), and Gradescope's run of it gives the reference full marks."""
    import zipfile

    zip_path = tmp_path / "autograder.zip"
    proc = grader("package", "--pack", str(PACK), "--out", str(zip_path))
    assert proc.returncode == 0, proc.stderr
    names = zipfile.ZipFile(zip_path).namelist()
    assert "solutions/layers.py" in names and "tests/grading/hidden/test_net_hidden.py" in names
    assert not any(n.startswith("solutions/losses") for n in names)  # not the repository's pack
    manifest = zipfile.ZipFile(zip_path).read("assignment.toml").decode()
    assert 'name = "backprop"' in manifest
    out = tmp_path / "results.json"
    proc = grader(
        "simulate",
        "--pack",
        str(PACK),
        str(PACK / "solutions"),
        "--zip",
        str(zip_path),
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["score"] == sum(t["max_score"] for t in results["tests"]) == 53
