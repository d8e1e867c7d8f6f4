"""Assignments as packs: the manifest, its errors, and an engine that names no lecture."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.authoring import assign, pack

ROOT = Path(__file__).resolve().parents[2]
GRADER = ROOT / "grader"


# -- the engine knows no lecture ------------------------------------------------------------------


def lecture_names() -> set[str]:
    """Every function, class and module name of this repository's own pack."""
    own = pack.load(ROOT)
    return {*own.module_of, *own.module_names}


def mentions(text: str, names: set[str]) -> list[str]:
    """Whole-word uses of ``names`` in ``text``, except as an attribute of something else
    (``torch.optim`` is PyTorch's module, ``pattern.search`` a method of ``re``)."""
    words = re.compile(r"(?<![\w.])(" + "|".join(sorted(map(re.escape, names))) + r")(?!\w)")
    return [m.group(1) for m in words.finditer(text)]


def test_nothing_under_grader_names_a_function_or_module_of_this_lecture() -> None:
    names = lecture_names()
    assert {"svm_loss", "torch_losses", "MulticlassHinge"} <= names  # the rule has teeth
    found = {
        str(path.relative_to(ROOT)): hits
        for path in sorted(GRADER.rglob("*"))
        if path.suffix in (".py", ".json")
        and (hits := mentions(path.read_text(encoding="utf-8"), names))
    }
    assert found == {}, f"lecture names in the engine: {found}"


def test_the_rule_finds_a_lecture_name_and_lets_other_modules_attributes_be() -> None:
    names = lecture_names()
    assert mentions('lean = module != "torch_losses"', names) == ["torch_losses"]
    assert mentions("# e.g. losses.py", names) == ["losses"]
    assert mentions("torch.optim.SGD(...); _PATTERN.search(text)", names) == []


# -- the manifest --------------------------------------------------------------------------------

GOOD = """\
[assignment]
name = "tiny"
title = "A tiny assignment"

[[modules]]
name = "ops"
functions = ["double"]
hidden = "larger inputs"
"""


def make_pack(root: Path, manifest: str = GOOD, solution: str | None = None) -> Path:
    (root / "solutions").mkdir(parents=True, exist_ok=True)
    (root / "solutions" / "ops.py").write_text(
        solution or "def double(x):\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION\n"
    )
    (root / "assignment.toml").write_text(manifest)
    return root


def test_a_good_manifest_loads_with_its_defaults(tmp_path: Path) -> None:
    p = pack.load(make_pack(tmp_path))
    assert (p.name, p.title, p.module_names, p.files) == (
        "tiny",
        "A tiny assignment",
        ("ops",),
        ("ops.py",),
    )
    assert p.solutions == (tmp_path / "solutions").resolve()
    assert p.suites == (tmp_path / "tests" / "grading").resolve()
    assert p.module_of == {"double": "ops"} and p.torch_modules == ()
    assert p.module("ops").hidden == "larger inputs" and p.notebook is None


def test_this_repository_is_a_pack_whose_manifest_matches_its_solutions() -> None:
    own = pack.load(ROOT)
    assert own.root == ROOT.resolve() and own.solutions == (ROOT / "solutions").resolve()
    for module in own.modules:
        source = (own.solutions / module.file).read_text()
        for name in module.names:
            assert re.search(rf"^(def|class) {name}\b", source, re.M), name


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (lambda m: m + "colour = 1\n", "modules[0].colour", "unknown key"),
        (lambda m: m.replace("[assignment]", "[assignmnet]"), "assignmnet", "did you mean"),
        (lambda m: m.replace('"ops"', '"opz"'), "modules[0].name", "no solution file"),
        (lambda m: m.replace('["double"]', '["triple"]'), "modules[0].functions", "triple"),
        (lambda m: m.replace('["double"]', '"double"'), "modules[0].functions", "list"),
        (lambda m: m.replace('"tiny"', '"Tiny Pack"'), "assignment.name", "slug"),
        (lambda m: m.replace('title = "A tiny assignment"\n', ""), "assignment.title", "missing"),
        (lambda m: m.split("[[modules]]")[0], "modules", "at least one"),
        (lambda m: m + "\n[limits]\ncall_timeout = -1\n", "limits.call_timeout", ">= 0"),
        (lambda m: m + "\n[paths]\nnotebook = 'nb.py'\n", "paths.notebook", "does not exist"),
        (lambda m: m.replace('functions = ["double"]', 'classes = ["double"]'), "classes", "torch"),
    ],
)
def test_a_broken_manifest_is_one_error_naming_the_file_and_the_key(
    tmp_path: Path, change, key: str, words: str
) -> None:
    make_pack(tmp_path, change(GOOD))
    with pytest.raises(pack.ManifestError) as caught:
        pack.load(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'assignment.toml'}: ")
    assert key in message and words in message, message


def test_not_toml_and_no_manifest_are_errors_too(tmp_path: Path) -> None:
    with pytest.raises(pack.ManifestError, match="no such manifest"):
        pack.load(tmp_path)
    make_pack(tmp_path, "[assignment\n")
    with pytest.raises(pack.ManifestError, match="not valid TOML"):
        pack.load(tmp_path)


@pytest.mark.parametrize("command", ["grade", "check", "assign", "package", "batch"])
def test_every_command_reports_a_broken_manifest_in_one_line(tmp_path: Path, command: str) -> None:
    make_pack(tmp_path, GOOD + "colour = 1\n")
    args = {
        "grade": ["grade", str(tmp_path)],
        "check": ["check"],
        "assign": ["assign"],
        "package": ["package", "--out", str(tmp_path / "a.zip")],
        "batch": ["batch", str(tmp_path), "--out", str(tmp_path / "out")],
    }[command]
    proc = subprocess.run(
        [sys.executable, "-m", "grader", *args, "--pack", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"grader {command}: {tmp_path / 'assignment.toml'}: modules[0].colour: unknown key"
    ]


def test_the_pack_is_found_from_inside_it(tmp_path: Path) -> None:
    make_pack(tmp_path)
    inner = tmp_path / "solutions"
    assert pack.find(inner) == tmp_path.resolve()
    assert pack.find(Path("/")) is None


# -- the notebook's narrative --------------------------------------------------------------------


def test_a_narrative_becomes_the_notebook_around_the_stubs(tmp_path: Path) -> None:
    make_pack(tmp_path)
    (tmp_path / "notebook.py").write_text(
        "# a comment before the first cell is not a cell\n\n"
        "# %% [markdown]\n# # Tiny\n#\n# Double a number.\n\n"
        "# %% [setup]\n\n# %% [writefile] ops.py\n\n# %%\nops = fresh('ops')\n"
    )
    notebook = assign.render(tmp_path / "solutions", pack.load(tmp_path))[assign.NOTEBOOK]
    assert '"# Tiny\\n",\n    "\\n",\n    "Double a number."' in notebook
    assert "%%writefile ops.py" in notebook and "raise NotImplementedError" in notebook
    assert 'check(\\"ops\\")' in notebook and "ops = fresh('ops')" in notebook
    assert "def unless_missing" in notebook


@pytest.mark.parametrize(
    ("narrative", "words"),
    [
        ("# %% [markdown]\n# hi\n", "needs exactly one '# %% [writefile] ops.py'"),
        ("# %% [writefile] ops.py\n# %% [writefile] ops.py\n", "found 2"),
        ("# %% [writefile] other.py\n", "not a module of the pack"),
        ("# %% [writefile] ops.py\nprint(1)\n", "write nothing under it"),
        ("# %% [markdown]\nnot a comment\n# %% [writefile] ops.py\n", "must begin with '#'"),
        ("# %% [raw]\n# %% [writefile] ops.py\n", "unknown cell kind [raw]"),
    ],
)
def test_a_broken_narrative_says_file_and_line(tmp_path: Path, narrative: str, words: str) -> None:
    make_pack(tmp_path)
    (tmp_path / "notebook.py").write_text(narrative)
    with pytest.raises(assign.NarrativeError, match=re.escape(words)) as caught:
        assign.render(tmp_path / "solutions", pack.load(tmp_path))
    assert str(caught.value).startswith(str(tmp_path / "notebook.py"))


def test_without_a_narrative_the_notebook_has_a_title_and_every_file(tmp_path: Path) -> None:
    make_pack(tmp_path)
    notebook = assign.render(tmp_path / "solutions", pack.load(tmp_path))[assign.NOTEBOOK]
    assert "# A tiny assignment" in notebook and "%%writefile ops.py" in notebook


def test_this_packs_notebook_is_generated_from_its_narrative() -> None:
    """The committed assignment/ is what the narrative and the solutions give (and the
    narrative is what the notebook came from: no cell of the lecture lives in the engine)."""
    assert pack.load(ROOT).notebook == (ROOT / "notebook.py").resolve()
    assert assign.stale(ROOT / "solutions", ROOT / "assignment", pack.load(ROOT)) == []


def test_a_copy_of_a_pack_elsewhere_is_the_same_pack(tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "solutions", copy / "solutions")
    shutil.copy(ROOT / "assignment.toml", copy)
    assert pack.load(copy).modules == pack.load(ROOT).modules


# -- limits and points from the manifest ---------------------------------------------------------

SUITE = '''\
import pytest


@pytest.mark.tags("double")
def test_double(student):
    """double of 2"""
    assert student.double(2.0) == 4.0
'''


def test_the_manifests_limits_and_default_points_are_used(tmp_path: Path) -> None:
    extra = "\n[limits]\ncall_timeout = 2.5\nmemory_mb = 512\ncpu = 7\n\n[points]\ndefault = 3\n"
    make_pack(tmp_path, GOOD + extra)
    (tmp_path / "tests" / "grading" / "public").mkdir(parents=True)
    (tmp_path / "tests" / "grading" / "public" / "test_ops.py").write_text(SUITE)
    shutil.copy(ROOT / "tests" / "grading" / "pytest.ini", tmp_path / "tests" / "grading")
    code = (
        "import sys; from pathlib import Path\n"
        "from grader.authoring import pack\nfrom grader.grading import engine\n"
        "pack.select(sys.argv[1])\n"
        "limits = engine.pack_limits()\n"
        "print(limits.call_timeout, limits.memory, limits.cpu)\n"
        "r = engine.grade(Path(sys.argv[1]) / 'solutions', engine.Options(suites=('public',)))\n"
        "print(r.score, r.max_score, r.grader_error)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == [f"2.5 {512 * 2**20} 7", "3.0 3.0 None"]


# -- grader new ----------------------------------------------------------------------------------


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grader", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def _score(result: Path) -> tuple[float, float]:
    import json

    doc = json.loads(result.read_text())
    return doc["score"], sum(t["max_score"] for t in doc["tests"])


def test_a_new_pack_grades_its_solution_full_and_its_stubs_zero_with_no_edit(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "warm"
    made = _cli("new", "warm-up", "--dest", str(dest))
    assert made.returncode == 0, made.stderr
    for part in ("assignment.toml", "solutions/warmup.py", "tests/grading/bugs.py"):
        assert (dest / part).is_file(), part
    assert (dest / "assignment" / "warmup.py").is_file()
    assert (dest / "assignment" / assign.NOTEBOOK).is_file()
    assert assign.stale(dest / "solutions", dest / "assignment", pack.load(dest)) == []

    def grade(folder: Path) -> tuple[float, float]:
        out = tmp_path / f"{folder.name}.json"
        proc = _cli("grade", "--pack", str(dest), str(folder), "--out", str(out))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return _score(out)

    full, available = grade(dest / "solutions")
    assert full == available > 0
    assert grade(dest / "assignment") == (0, available)
    # Its one bug loses points, with its hint.
    sys.path.insert(0, str(dest / "tests" / "grading"))
    try:
        from bugs import BUGS  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(dest / "tests" / "grading"))
        sys.modules.pop("bugs", None)
    buggy = tmp_path / "buggy"
    buggy.mkdir()
    source = (dest / "solutions" / "warmup.py").read_text()
    (buggy / "warmup.py").write_text(assign.completed_source(BUGS[0].patch(source), buggy))
    score, _ = grade(buggy)
    assert score < available  # every test is of its one function
    assert "you add the factor" in (tmp_path / "buggy.json").read_text()


def test_grader_new_refuses_a_bad_name_and_a_used_folder(tmp_path: Path) -> None:
    bad = _cli("new", "Not A Slug", "--dest", str(tmp_path / "x"))
    assert bad.returncode == 3 and "slug" in bad.stderr and "Traceback" not in bad.stderr
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    used = _cli("new", "fine", "--dest", str(tmp_path / "used"))
    assert used.returncode == 3 and "not empty" in used.stderr
    assert (tmp_path / "used" / "keep.txt").read_text() == "mine"


def test_a_hidden_tests_category_marker_names_what_it_checks(tmp_path: Path) -> None:
    """``@pytest.mark.category`` (as ``grader new``'s hidden tests use it) reaches the student's
    message of a failed hidden test, and the input does not."""
    import json

    dest = tmp_path / "warm"
    assert _cli("new", "warm", "--dest", str(dest)).returncode == 0
    out = tmp_path / "stub.json"
    proc = _cli("grade", "--pack", str(dest), str(dest / "assignment"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    hidden = [
        t for t in json.loads(out.read_text())["tests"] if t["name"].startswith("scale of a 50x20")
    ]
    assert hidden and "a larger array and a factor of zero" in hidden[0]["output"]
