"""The submission intake: folders, single files, zips and notebooks, built on the fly."""

from __future__ import annotations

import ast
import json
import os
import stat
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from grader import messages
from grader.authoring import pack
from grader.grading.submission import (
    DEFAULT_LIMITS,
    MESSAGES,
    IntakeLimits,
    Problem,
    Submission,
    SubmissionError,
    load_notebook_sources,
    load_submission,
    write_sources,
)

FILES = pack.active().files

GOOD = {name: f"# {name}\nVALUE = {i}\n" for i, name in enumerate(FILES)}


def codes(sub: Submission | list[Problem]) -> list[str]:
    problems = sub.problems if isinstance(sub, Submission) else sub
    return [p.code for p in problems]


def only(sub: Submission, code: str) -> Problem:
    found = [p for p in sub.problems if p.code == code]
    assert len(found) == 1, sub.problems
    return found[0]


def make_folder(root: Path, files: Mapping[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def make_zip(
    path: Path, files: Mapping[str, str | bytes], *, method: int = zipfile.ZIP_DEFLATED
) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return path


def notebook(*cells: str | list[str], version: int = 4) -> bytes:
    empty: dict[str, object] = {"metadata": {}, "outputs": [], "execution_count": None}
    cell_list = [{**empty, "cell_type": "code", "source": c} for c in cells]
    nb = {"cells": cell_list, "metadata": {}, "nbformat": version, "nbformat_minor": 5}
    return json.dumps(nb).encode()


# --- folders -----------------------------------------------------------------------------------


def test_clean_folder_has_no_problems(tmp_path: Path) -> None:
    sub = load_submission(make_folder(tmp_path, GOOD))
    assert sub.kind == "folder"
    assert dict(sub.sources) == GOOD
    assert sub.problems == ()


def test_sources_are_read_only(tmp_path: Path) -> None:
    sub = load_submission(make_folder(tmp_path, GOOD))
    with pytest.raises(TypeError):
        sub.sources["losses.py"] = "x"  # type: ignore[index]


def test_missing_files_one_problem_each(tmp_path: Path) -> None:
    sub = load_submission(make_folder(tmp_path, {"losses.py": GOOD["losses.py"]}))
    missing = [p for p in sub.problems if p.code == "missing-file"]
    assert [p.file for p in missing] == [f for f in FILES if f != "losses.py"]
    assert not any(p.fatal for p in sub.problems)
    assert missing[0].message == MESSAGES["missing-file"].format(file=missing[0].file, hint="")


def test_missing_file_suggests_near_name(tmp_path: Path) -> None:
    files = dict(GOOD)
    files["losses (1).py"] = files.pop("losses.py")
    sub = load_submission(make_folder(tmp_path, files))
    assert "`losses (1).py`" in only(sub, "missing-file").message
    assert only(sub, "missing-file").file == "losses.py"


def test_a_file_graded_under_its_own_name_is_not_suggested_for_another(tmp_path: Path) -> None:
    # losses.py is close to torch_losses.py, but it is graded as itself: no "rename it".
    sub = load_submission(make_folder(tmp_path, {"losses.py": GOOD["losses.py"]}))
    missing = {p.file: p.message for p in sub.problems if p.code == "missing-file"}
    assert missing["torch_losses.py"] == MESSAGES["missing-file"].format(
        file="torch_losses.py", hint=""
    )
    # A misspelt file next to it still is suggested.
    files = {"losses.py": GOOD["losses.py"], "torch_loss.py": GOOD["torch_losses.py"]}
    sub = load_submission(make_folder(tmp_path / "second", files))
    missing = {p.file: p.message for p in sub.problems if p.code == "missing-file"}
    assert "did you mean `torch_loss.py`?" in missing["torch_losses.py"]


def test_nested_folder_with_macos_junk(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {f"hw1/{n}": s for n, s in GOOD.items()}
    files["__MACOSX/hw1/._losses.py"] = b"\x00\x05\x16\x07junk"
    files["hw1/.DS_Store"] = b"\x00\x00"
    sub = load_submission(make_folder(tmp_path, files))
    assert dict(sub.sources) == GOOD
    assert codes(sub) == ["nested-folder"]
    assert only(sub, "nested-folder").message == MESSAGES["nested-folder"].format(folder="hw1")


def test_wrong_case_is_mapped(tmp_path: Path) -> None:
    files = {**GOOD, "Losses.py": GOOD["losses.py"]}
    del files["losses.py"]
    sub = load_submission(make_folder(tmp_path, files))
    assert dict(sub.sources) == GOOD
    problem = only(sub, "wrong-case")
    assert (problem.file, problem.fatal) == ("losses.py", False)
    assert problem.message == MESSAGES["wrong-case"].format(file="losses.py", found="Losses.py")


def test_exact_name_beats_wrong_case_duplicate(tmp_path: Path) -> None:
    files = {**GOOD, "LOSSES.py": "wrong = 1\n"}
    sub = load_submission(make_folder(tmp_path, files))
    assert sub.sources["losses.py"] == GOOD["losses.py"]
    assert only(sub, "duplicate").file == "losses.py"


@pytest.mark.parametrize(
    "pyc", ["__pycache__/losses.cpython-311.pyc", "losses.cpython-311.pyc", "losses.pyc"]
)
def test_pyc_only(tmp_path: Path, pyc: str) -> None:
    files: dict[str, str | bytes] = {**GOOD, pyc: b"\x00\x01compiled"}
    del files["losses.py"]
    sub = load_submission(make_folder(tmp_path, files))
    problem = only(sub, "pyc-only")
    assert problem.file == "losses.py" and "source file `losses.py`" in problem.message
    assert "missing-file" not in codes(sub)
    assert "losses.py" not in sub.sources


def test_extra_files(tmp_path: Path) -> None:
    files = {
        **GOOD,
        "helpers.py": "H = 1\n",
        "numpy.py": "",
        "notes.txt": "hi",
        "data/x.csv": "1",
        "w.npy": "x",
    }
    sub = load_submission(make_folder(tmp_path, files))
    assert sub.sources["helpers.py"] == "H = 1\n"
    assert sub.sources["numpy.py"] == ""  # kept: the worker runs isolated; only noted
    extra = only(sub, "extra-file")
    assert "`helpers.py`" in extra.message and "share a name" in extra.message
    # text data beside the modules is kept as it is (never compiled), anything else ignored
    assert sub.sources["notes.txt"] == "hi"
    assert "`notes.txt`" in only(sub, "data-file").message
    ignored = only(sub, "ignored-file")
    assert "`w.npy`" in ignored.message and "`data/x.csv`" in ignored.message
    assert "notes.txt" not in ignored.message
    assert "missing-file" not in codes(sub)


def test_not_utf8_names_offset_and_drops(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {**GOOD, "losses.py": b"x = 1\n# caf\xe9\n"}
    sub = load_submission(make_folder(tmp_path, files))
    problem = only(sub, "not-utf8")
    assert problem.message == MESSAGES["not-utf8"].format(file="losses.py", offset=11)
    assert "losses.py" not in sub.sources
    assert "missing-file" not in codes(sub)


def test_bom_is_accepted(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {**GOOD, "losses.py": b"\xef\xbb\xbfVALUE = 1\n"}
    sub = load_submission(make_folder(tmp_path, files))
    assert sub.sources["losses.py"] == "VALUE = 1\n"
    assert sub.problems == ()


def test_syntax_error_is_kept_with_line(tmp_path: Path) -> None:
    files = {**GOOD, "optim.py": "import numpy as np\n\ndef sgd_step(w, g\n    return w\n"}
    sub = load_submission(make_folder(tmp_path, files))
    problem = only(sub, "syntax-error")
    assert problem.file == "optim.py" and not problem.fatal
    assert "line 3" in problem.message and "`def sgd_step(w, g`" in problem.message
    assert sub.sources["optim.py"] == files["optim.py"]  # the worker fails that module's tests


def test_syntax_check_never_runs_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    files = {**GOOD, "losses.py": f"open({str(marker)!r}, 'w').close()\n"}
    load_submission(make_folder(tmp_path / "sub", files))
    assert not marker.exists()


def test_null_bytes_are_a_syntax_error(tmp_path: Path) -> None:
    sub = load_submission(make_folder(tmp_path, {**GOOD, "losses.py": "x = 1\x00\n"}))
    assert only(sub, "syntax-error").file == "losses.py"


def test_empty_file(tmp_path: Path) -> None:
    sub = load_submission(make_folder(tmp_path, {**GOOD, "search.py": "\n  \n"}))
    assert only(sub, "empty-file").file == "search.py"


def test_symlinks_are_never_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    sub_dir = make_folder(tmp_path / "sub", {n: s for n, s in GOOD.items() if n != "losses.py"})
    (sub_dir / "losses.py").symlink_to(secret)
    (sub_dir / "link_dir").symlink_to(tmp_path, target_is_directory=True)
    sub = load_submission(sub_dir)
    assert "losses.py" not in sub.sources
    assert all("TOP SECRET" not in s for s in sub.sources.values())
    assert "`losses.py`" in only(sub, "symlink").message
    assert "missing-file" in codes(sub)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no fifos here")
def test_fifo_is_rejected_without_blocking(tmp_path: Path) -> None:
    make_folder(tmp_path, GOOD)
    os.mkfifo(tmp_path / "helper.py")
    sub = load_submission(tmp_path)
    assert "`helper.py`" in only(sub, "special-file").message
    assert "helper.py" not in sub.sources


def test_folder_too_many_files(tmp_path: Path) -> None:
    make_folder(tmp_path, {f"f{i}.txt": "" for i in range(12)})
    sub = load_submission(tmp_path, IntakeLimits(max_files=10))
    assert codes(sub) == ["too-many-files"] and sub.problems[0].fatal
    assert sub.sources == {}


def test_folder_too_deep(tmp_path: Path) -> None:
    make_folder(tmp_path, {"a/b/c/d/losses.py": "x = 1\n"})
    sub = load_submission(tmp_path, IntakeLimits(max_depth=3))
    problem = only(sub, "too-deep")
    assert problem.fatal and "4 deep" in problem.message


def test_folder_file_and_total_size_limits(tmp_path: Path) -> None:
    limits = IntakeLimits(max_file_bytes=100, max_total_bytes=250)
    big = {**GOOD, "losses.py": "#" * 101}
    sub = load_submission(make_folder(tmp_path / "a", big), limits)
    problem = only(sub, "too-large")
    assert problem.file == "losses.py" and not problem.fatal
    assert "losses.py" not in sub.sources
    total = {n: "#" * 90 for n in FILES}
    sub = load_submission(make_folder(tmp_path / "b", total), limits)
    assert only(sub, "too-large").fatal and sub.sources == {}


def test_single_py_file(tmp_path: Path) -> None:
    path = tmp_path / "losses.py"
    path.write_text(GOOD["losses.py"])
    sub = load_submission(path)
    assert sub.kind == "folder" and dict(sub.sources) == {"losses.py": GOOD["losses.py"]}
    assert codes(sub).count("missing-file") == len(FILES) - 1


@pytest.mark.parametrize("name", ["missing", "report.pdf"])
def test_unreadable_submission_raises(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.endswith(".pdf"):
        path.write_bytes(b"%PDF")
    with pytest.raises(SubmissionError, match=r"\S"):
        load_submission(path)


# --- zips ----------------------------------------------------------------------------------------


def test_zip_equals_folder_and_digest(tmp_path: Path) -> None:
    folder = load_submission(make_folder(tmp_path / "f", GOOD))
    zipped = load_submission(make_zip(tmp_path / "s.zip", GOOD))
    assert zipped.kind == "zip" and dict(zipped.sources) == GOOD and zipped.problems == ()
    assert zipped.digest == folder.digest
    other = load_submission(make_zip(tmp_path / "o.zip", {**GOOD, "losses.py": "VALUE = 9\n"}))
    assert other.digest != folder.digest


def test_zip_nested_folder_and_case(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {f"hw/{n}": s for n, s in GOOD.items()}
    files["hw/Losses.py"] = files.pop("hw/losses.py")
    files["__MACOSX/hw/._Losses.py"] = b"\x00"
    files["hw/__pycache__/optim.cpython-311.pyc"] = b"\x00"
    sub = load_submission(make_zip(tmp_path / "s.zip", files))
    assert dict(sub.sources) == GOOD
    assert codes(sub) == ["nested-folder", "wrong-case"]


@pytest.mark.parametrize(
    "evil", ["../evil.py", "/etc/x.py", "hw/../../evil.py", "C:/x.py", "hw\\..\\evil.py"]
)
def test_zip_unsafe_path_refuses_whole_zip(tmp_path: Path, evil: str) -> None:
    sub = load_submission(make_zip(tmp_path / "s.zip", {**GOOD, evil: "x = 1\n"}))
    problem = only(sub, "unsafe-path")
    assert problem.fatal and sub.sources == {}
    assert not (tmp_path / "evil.py").exists() and not (tmp_path.parent / "evil.py").exists()


def test_zip_symlink_member_is_ignored(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "s.zip", {n: s for n, s in GOOD.items() if n != "losses.py"})
    with zipfile.ZipFile(path, "a") as zf:
        info = zipfile.ZipInfo("losses.py")
        info.external_attr = (0o120777 << 16) | stat.S_IFLNK << 16
        zf.writestr(info, "/etc/passwd")
    sub = load_submission(path)
    assert "losses.py" not in sub.sources
    assert "`losses.py`" in only(sub, "symlink").message


def test_zip_bomb_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("losses.py", b"\0" * (50 * 2**20))
    assert path.stat().st_size < 100_000
    start = time.perf_counter()
    sub = load_submission(path)
    assert time.perf_counter() - start < 0.5  # inflating 50 MB alone takes longer
    assert sub.sources == {} and {"too-large", "zip-bomb"} <= set(codes(sub))
    assert all(p.fatal for p in sub.problems)
    bomb = only(sub, "zip-bomb")
    assert f"{50 * 2**20:,} bytes" in bomb.message


def test_zip_ratio_alone_is_a_bomb(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "s.zip", {**GOOD, "pad.txt": b"\0" * 2**20})
    assert codes(load_submission(path)) == ["zip-bomb"]
    # ... but a small repetitive source file is not
    assert load_submission(make_zip(tmp_path / "t.zip", {**GOOD, "h.py": "#" * 4000})).sources


def test_zip_lying_sizes_are_bounded(tmp_path: Path) -> None:
    """A header that understates a member's size cannot make us read past the limit."""
    path = make_zip(
        tmp_path / "s.zip", {**GOOD, "losses.py": "#" * 5000}, method=zipfile.ZIP_STORED
    )
    data = path.read_bytes()
    # patch the central directory's uncompressed size of losses.py down to 10 bytes
    cd = data.rfind(b"PK\x01\x02", 0, data.find(b"losses.py", data.find(b"PK\x01\x02")) + 1)
    patched = data[: cd + 24] + (10).to_bytes(4, "little") + data[cd + 28 :]
    (tmp_path / "p.zip").write_bytes(patched)
    sub = load_submission(tmp_path / "p.zip")
    assert "losses.py" not in sub.sources or len(sub.sources["losses.py"]) <= 10


def test_zip_limits(tmp_path: Path) -> None:
    many = make_zip(tmp_path / "m.zip", {f"f{i}.txt": "" for i in range(11)})
    assert codes(load_submission(many, IntakeLimits(max_files=10))) == ["too-many-files"]
    deep = make_zip(tmp_path / "d.zip", {"a/b/c/d/e/f/g/losses.py": "x = 1\n"})
    assert codes(load_submission(deep)) == ["too-deep"]
    big = make_zip(tmp_path / "b.zip", {n: "#" * 90 for n in FILES}, method=zipfile.ZIP_STORED)
    sub = load_submission(big, IntakeLimits(max_total_bytes=500))
    assert codes(sub) == ["too-large"] and "540 bytes" in sub.problems[0].message


def test_zip_duplicate_member_last_wins(tmp_path: Path) -> None:
    """The rule of every route in (docs/SUBMISSIONS.md): of two copies, the last one, as
    unzipping the zip leaves it and as running a notebook writes a file."""
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as zf, pytest.warns(UserWarning, match="Duplicate"):
        for name, source in GOOD.items():
            zf.writestr(name, source)
        zf.writestr("losses.py", "SECOND = 1\n")
    sub = load_submission(path)
    assert sub.sources["losses.py"] == "SECOND = 1\n"
    problem = only(sub, "duplicate")
    assert problem.file == "losses.py" and messages.USED_LAST_MEMBER in problem.message


@pytest.mark.parametrize("cut", [10, 100, -30, -1])
def test_corrupt_zip(tmp_path: Path, cut: int) -> None:
    data = make_zip(tmp_path / "s.zip", GOOD).read_bytes()
    (tmp_path / "c.zip").write_bytes(data[:cut])
    sub = load_submission(tmp_path / "c.zip")
    assert codes(sub) == ["bad-zip"] and sub.problems[0].fatal and sub.sources == {}


def test_bad_crc_is_bad_zip(tmp_path: Path) -> None:
    data = bytearray(make_zip(tmp_path / "s.zip", GOOD, method=zipfile.ZIP_STORED).read_bytes())
    at = data.find(b"VALUE = 0")
    data[at] = ord("W")
    (tmp_path / "c.zip").write_bytes(bytes(data))
    sub = load_submission(tmp_path / "c.zip")
    assert codes(sub) == ["bad-zip"] and "losses.py" in sub.problems[0].message


def test_encrypted_member_is_bad_zip(tmp_path: Path) -> None:
    data = bytearray(make_zip(tmp_path / "s.zip", GOOD).read_bytes())
    at = data.find(b"PK\x01\x02")  # set the "encrypted" flag in the central directory
    data[at + 8] |= 1
    (tmp_path / "e.zip").write_bytes(bytes(data))
    sub = load_submission(tmp_path / "e.zip")
    assert codes(sub) == ["bad-zip"] and "encrypted" in sub.problems[0].message


def test_zip_that_is_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "s.zip").write_text("not a zip at all")
    assert codes(load_submission(tmp_path / "s.zip")) == ["bad-zip"]


# --- notebooks -----------------------------------------------------------------------------------


def test_notebook_writefile_cells(tmp_path: Path) -> None:
    cells = [f"%%writefile {n}\n{s}" for n, s in GOOD.items()]
    path = tmp_path / "hw.ipynb"
    path.write_bytes(notebook("import numpy as np\nprint('not used')", *cells))
    sub = load_submission(path)
    assert sub.kind == "notebook" and dict(sub.sources) == GOOD and sub.problems == ()
    assert sub.digest == load_submission(make_folder(tmp_path / "f", GOOD)).digest


@pytest.mark.parametrize("container", ["folder", "zip"])
def test_lone_notebook_in_folder_or_zip(tmp_path: Path, container: str) -> None:
    """Gradescope puts an uploaded notebook inside the submission folder."""
    nb = notebook(*[f"%%writefile {n}\n{s}" for n, s in GOOD.items()])
    files: dict[str, str | bytes] = {"hw.ipynb": nb, ".ipynb_checkpoints/hw-checkpoint.ipynb": nb}
    if container == "folder":
        path = make_folder(tmp_path / "f", files)
    else:
        path = make_zip(tmp_path / "s.zip", {"hw.ipynb": nb})
    sub = load_submission(path)
    assert (sub.kind, dict(sub.sources), sub.problems) == ("notebook", GOOD, ())
    # with the .py files present, they win and the notebook is only listed as ignored
    both = load_submission(make_folder(tmp_path / "b", {**GOOD, "hw.ipynb": nb}))
    assert both.kind == "folder" and codes(both) == ["ignored-file"]


def test_notebook_append_overwrite_and_newline() -> None:
    files, problems = load_notebook_sources(
        notebook(
            "%%writefile losses.py\nA = 1",
            "%%writefile -a losses.py\nB = 2\n",
            "%%writefile optim.py\nOLD = 1\n",
            "%%writefile optim.py\nNEW = 1\n",
            "%%writefile --append optim.py\nMORE = 1",
        )
    )
    assert files == {"losses.py": "A = 1\nB = 2\n", "optim.py": "NEW = 1\nMORE = 1\n"}
    # optim.py was written twice: the note says which cell was graded (issue 29).
    assert [(p.code, p.file, p.fatal) for p in problems] == [("duplicate-cell", "optim.py", False)]
    assert problems[0].message == MESSAGES["duplicate-cell"].format(
        file="optim.py",
        count=2,
        cells="3 and 4",
        used=4,
        appended=messages.APPENDED_CELLS.format(cells="5"),
    )


def test_notebook_duplicate_cells_name_the_cell_used_counting_every_cell() -> None:
    text = {"cell_type": "markdown", "metadata": {}, "source": "# Part 1"}
    raw = json.loads(notebook("%%writefile losses.py\nFIRST = 1\n", "x = 1"))
    raw["cells"] = [text, raw["cells"][0], text, raw["cells"][1]] + [
        {**raw["cells"][0], "source": f"%%writefile losses.py\nV = {i}\n"} for i in (2, 3)
    ]
    files, problems = load_notebook_sources(json.dumps(raw).encode())
    assert files == {"losses.py": "V = 3\n"}
    (problem,) = problems
    assert "3 `%%writefile losses.py` cells (2, 5 and 6)" in problem.message
    assert "graded it as the last one, cell 6, writes it, as running the" in problem.message
    # An append-only start is the first copy; one file written once has nothing to report.
    files, problems = load_notebook_sources(notebook("%%writefile -a losses.py\nA = 1\n"))
    assert files == {"losses.py": "A = 1\n"} and problems == []


def test_notebook_list_and_string_sources_agree() -> None:
    as_list = ["\n", "  \n", "%%writefile './losses.py'\n", "def f(x):\n", "    return x"]
    from_list, _ = load_notebook_sources(notebook(as_list))
    from_str, _ = load_notebook_sources(notebook("".join(as_list)))
    assert from_list == from_str == {"losses.py": "def f(x):\n    return x\n"}


def test_notebook_indented_magic_is_dedented_like_ipython() -> None:
    files, _ = load_notebook_sources(notebook("  %%writefile losses.py\n  A = 1\n    B = 2\n"))
    assert files == {"losses.py": "A = 1\n  B = 2\n"}


def test_notebook_unsafe_and_bad_writefile_paths() -> None:
    files, problems = load_notebook_sources(
        notebook(
            "%%writefile ../evil.py\nx = 1",
            "%%writefile /etc/x.py\nx = 1",
            "%%writefile sub/x.py\nx = 1",
            "%%writefile ~/x.py\nx = 1",
            "%%writefile\nx = 1",
            "%%writefile losses.py\nA = 1",
        )
    )
    assert files == {"losses.py": "A = 1\n"}
    assert codes(problems) == ["unsafe-path"] * 4 + ["bad-writefile"]
    assert not any(p.fatal for p in problems)


def test_notebook_other_magics_and_markdown_are_ignored() -> None:
    nb = json.loads(notebook("%%time\nx = 1", "%writefile losses.py\nx", "x = '%%writefile a.py'"))
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "%%writefile m.py\n"})
    files, problems = load_notebook_sources(json.dumps(nb).encode())
    assert files == {} and codes(problems) == ["no-writefile-cells"]
    assert problems[0].fatal and problems[0].message == MESSAGES["no-writefile-cells"]


def test_notebook_invalid_json_position(tmp_path: Path) -> None:
    path = tmp_path / "hw.ipynb"
    path.write_bytes(b'{"cells": [\n  {"cell_type": }\n]}')
    sub = load_submission(path)
    problem = only(sub, "bad-notebook")
    assert problem.fatal and "line 2, column 17" in problem.message and sub.sources == {}


@pytest.mark.parametrize("data", [b"[]", b'{"nbformat": 4}', b"\xff\xfe\x00", b"[" * 100_000])
def test_notebook_not_a_notebook(data: bytes) -> None:
    files, problems = load_notebook_sources(data)
    assert files == {} and codes(problems) == ["bad-notebook"] and problems[0].fatal


def test_notebook_tolerates_schema_errors_and_v3() -> None:
    nb = json.loads(notebook("%%writefile losses.py\nA = 1\n"))
    nb["cells"][0]["bogus"] = True
    del nb["metadata"]
    files, problems = load_notebook_sources(json.dumps(nb).encode())
    assert files == {"losses.py": "A = 1\n"} and problems == []
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [
        {"cell_type": "code", "input": "%%writefile optim.py\nB = 2\n", "outputs": [],
         "language": "python", "metadata": {}}]}]}  # fmt: skip
    files, problems = load_notebook_sources(json.dumps(v3).encode())
    assert files == {"optim.py": "B = 2\n"} and problems == []


def test_notebook_rules_apply_after_writefile(tmp_path: Path) -> None:
    path = tmp_path / "hw.ipynb"
    path.write_bytes(notebook("%%writefile Losses.py\nA = 1\n", "%%writefile bad.py\n\udcff = 1"))
    sub = load_submission(path)
    assert sub.sources == {"losses.py": "A = 1\n"}
    assert {"wrong-case", "not-utf8"} <= set(codes(sub))


def test_notebook_size_limit() -> None:
    _, problems = load_notebook_sources(b" " * 101, IntakeLimits(max_total_bytes=25))
    assert codes(problems) == ["too-large"] and problems[0].fatal


def test_writefile_matches_ipython() -> None:
    """Our %%writefile split agrees with IPython's own cell transformer and argument parser."""
    ipt = pytest.importorskip("IPython.core.inputtransformer2")
    osm = pytest.importorskip("IPython.core.magics.osm")
    from IPython.core.magic_arguments import parse_argstring

    from grader.grading.submission import _writefile_magic, _writefile_target

    cells = [
        "%%writefile losses.py\nA = 1",
        "\n\n  %%writefile -a 'losses.py'\n  A = 1\n\n   B\n\t\n",
        '%%writefile  "optim.py"  \nx\r\ny\x0cz',
        "%%writefile losses.py -a\n",
        "   \n%%writefile x.py\n    deep\n",
    ]
    manager = ipt.TransformerManager()
    for cell in cells:
        transformed = manager.transform_cell(cell)
        call = "get_ipython().run_cell_magic("
        assert transformed.startswith(call), transformed
        magic, line, body = ast.literal_eval(transformed[len(call) - 1 :])
        args = parse_argstring(osm.OSMagics.writefile, line)  # type: ignore[no-untyped-call]
        filename = args.filename[1:-1] if args.filename[:1] in "'\"" else args.filename
        assert _writefile_magic(cell) == (line, body)
        assert _writefile_target(line) == (filename, args.append)
        assert magic == "writefile"


# --- writing -------------------------------------------------------------------------------------


def test_write_sources_roundtrip(tmp_path: Path) -> None:
    sub = load_submission(make_folder(tmp_path / "in", {**GOOD, "helper.py": "H = 1\n"}))
    write_sources(sub, tmp_path / "out")
    written = {p.name: p.read_text() for p in (tmp_path / "out").iterdir()}
    assert written == dict(sub.sources)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in (tmp_path / "out").iterdir())


@pytest.mark.parametrize("name", ["../evil.py", "a/b.py", "x.pdf", "1x.py", ".hidden.py", ""])
def test_write_sources_refuses_unsafe_names(tmp_path: Path, name: str) -> None:
    from types import MappingProxyType

    sub = Submission("folder", MappingProxyType({name: "x"}), (), "")
    with pytest.raises(ValueError, match="unsafe"):
        write_sources(sub, tmp_path / "out")
    assert not (tmp_path / "evil.py").exists()


def test_write_sources_does_not_follow_planted_symlink(tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("keep")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "losses.py").symlink_to(target)
    sub = load_submission(make_folder(tmp_path / "in", GOOD))
    with pytest.raises(OSError):
        write_sources(sub, tmp_path / "out")
    assert target.read_text() == "keep"


def test_default_limits() -> None:
    assert IntakeLimits() == DEFAULT_LIMITS
    assert DEFAULT_LIMITS.max_total_bytes == 5 * 2**20
