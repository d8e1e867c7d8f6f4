"""Canvas's and Moodle's downloads into `grader batch`, and feedback and grades back (issue 27).

Each download is built here the way the LMS's own code names its entries, and each feedback
archive is checked with the rule the LMS's own code applies to read it back:

* Canvas, ``lib/content_zipper.rb`` (``get_filename``, ``sanitize_user_name``,
  ``sanitize_file_name``, ``add_upload_submission``, ``sanitize_attachment_filename``,
  ``add_text_or_url``) and ``Attachment.make_unique_filename``; read back by
  ``AbstractAssignment#infer_comment_context_from_filename``;
* Moodle, ``mod/assign/classes/downloader.php`` (``get_student_prefix``, the folder and flat
  layouts; ``clean_filename``); read back by ``mod/assign/feedback/file/importziplib.php``
  (``is_valid_filename_for_import``, ``get_participant_mapping``) and, for grades,
  ``mod/assign/feedback/offline/importgradeslib.php``.

Only one test grades (three downloads and the same files as plain folders, two students each,
``--only losses``); the others read and write archives without grading.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from grader import messages
from grader.classroom import batch, discover, lms, lms_out
from grader.classroom.batch import BatchOptions
from grader.classroom.discover import BatchError
from grader.classroom.export import MOODLE_COLUMNS, export_canvas, export_moodle
from grader.classroom.gradebook import Gradebook, Record, Student
from grader.cli import main

ROOT = Path(__file__).resolve().parents[2]
FAST = BatchOptions(jobs=2, suites=("public",), only="losses", timeout=120)
FAST_ARGS = ["--jobs", "2", "--suite", "public", "--only", "losses"]


# -- names as each LMS's code writes them ------------------------------------------------------


def canvas_entry(
    sortable: str, user: int, attachment: int, display: str, late: bool = False
) -> str:
    """``ContentZipper#get_filename`` + ``add_upload_submission``."""
    name = re.sub(r"_(\d+)_", r"\1", sortable).lower()  # sanitize_user_name
    base = re.sub(r"[^\w]", "", "_".join([name, *(["LATE"] if late else []), str(user)]))
    shown = re.sub(r'[\x00/\\:*?"<>|]+', "_", display)  # sanitize_attachment_filename
    return f"{base}_{attachment}_{shown}"


def canvas_text(sortable: str, user: int) -> str:
    """``add_text_or_url(:text, ...)``: the submission is a text entry, not files."""
    return re.sub(r"[^\w]", "", f"{sortable.lower()}_{user}") + "_text.html"


def moodle_prefix(full_name: str, participant: int) -> str:
    """``downloader::get_student_prefix`` then ``clean_filename`` (PARAM_FILE)."""
    return re.sub(r"[\x00-\x1f&<>\"`|':\\/]", "", f"{full_name.replace('_', ' ')}_{participant}")


def moodle_entry(prefix: str, path: str, folders: bool, plugin: str = "file") -> str:
    """The folder layout keeps the submission's path; the flat one keeps the file name only."""
    if folders:
        return f"{prefix}_assignsubmission_{plugin}/{path}"
    return f"{prefix}_assignsubmission_{plugin}_{path.rsplit('/', 1)[-1]}"


# -- the rules each LMS's code applies to read a feedback file back ------------------------------


def canvas_reads(filename: str) -> tuple[str, str] | None:
    """``infer_comment_context_from_filename``: (user id, attachment id) or None (ignored)."""
    base = filename.rsplit("/", 1)[-1]
    tokens = [t for t in base.split("_") if t != "LATE"]  # the newer code drops LATE pieces
    if tokens and tokens[0] == "anon" and len(tokens) > 2:
        key, ids = f"anon_{tokens[1]}", [t for t in tokens[2:] if t.isdigit()][:1]
    else:
        digits = [t for t in tokens if re.fullmatch(r"\d+", t)][:2]
        key, ids = (digits[0] if digits else ""), digits[1:]
    if not key or not ids or tokens[-1].startswith("link") or base.startswith("._"):
        return None
    return key, ids[0]


def moodle_reads(path: str, participants: set[str], plugins: set[tuple[str, str]]) -> str | None:
    """``is_valid_filename_for_import``, old (the whole path, exactly five pieces) and new (the
    first path component that names a participant): the participant id, or None."""
    base = path.rsplit("/", 1)[-1]
    if base.startswith((".", "~")):
        return None
    old = path.split("_", 4)
    old_id = old[1] if len(old) == 5 and (old[2], old[3]) in plugins else None
    new_id = None
    for part in path.split("/"):
        info = part.split("_", 4)
        if len(info) >= 4 and info[1].isdigit() and (info[2], info[3]) in plugins:
            new_id = info[1]
            break
    assert old_id == new_id, path  # the name we write is read alike by both versions
    return new_id if new_id in participants else None


# -- what the tests share -----------------------------------------------------------------------


def py(folder: str, name: str) -> bytes:
    return (ROOT / folder / name).read_bytes()


def zip_of(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def canvas_download(path: Path) -> Path:
    """Ada (the reference: every module, so several files), Bob (late; a first upload of the
    stub's losses.py then the buggy one, the larger attachment id, in the same submission),
    Cy (a text entry), an anonymous student, a stray README and a macOS fork."""
    entries = {
        canvas_entry("Lovelace, Ada", 101, 9001, f): py("solutions", f)
        for f in ("losses.py", "optim.py", "gradients.py")
    }
    entries[canvas_entry("Byte, Bob", 102, 9002, "losses.py", late=True)] = py(
        "assignment", "losses.py"
    )
    entries[canvas_entry("Byte, Bob", 102, 9003, "losses.py", late=True)] = py(
        "examples/buggy", "losses.py"
    )
    entries[canvas_text("Cole, Cy", 103)] = b"<p>my answer is 42</p>"
    entries["anon_Xk3Pq_9004_losses.py"] = py("solutions", "losses.py")
    entries["README.txt"] = b"added by hand"
    entries["__MACOSX/._lovelaceada_101_9001_losses.py"] = b"\0"
    return zip_of(path, entries)


def moodle_download(path: Path, folders: bool) -> Path:
    """Ada (several files, one in a sub-folder of her submission), Bob (losses.py and an online
    text), a team with no group (no id), and a stray file."""
    ada, bob = moodle_prefix("Ada Lovelace", 501), moodle_prefix("Bob O'Byte", 502)
    entries = {
        moodle_entry(ada, "losses.py", folders): py("solutions", "losses.py"),
        moodle_entry(ada, "optim.py", folders): py("solutions", "optim.py"),
        moodle_entry(ada, "extra/notes.txt", folders): b"my notes",
        moodle_entry(bob, "losses.py", folders): py("examples/buggy", "losses.py"),
        moodle_entry(bob, "onlinetext.html", folders, "onlinetext"): b"<p>hello</p>",
        moodle_entry("Default group", "losses.py", folders): py("solutions", "losses.py"),
        "grades-notes.txt": b"stray",
    }
    return zip_of(path, entries)


def record(sub_id: str, student: Student, score: float = 3.0) -> Record:
    return Record(
        id=sub_id,
        content_digest="c",
        suite_digest="s",
        score=score,
        max_score=4.0,
        status="graded",
        started="2026-12-07T10:00:00.000+00:00",
        finished="2026-12-07T10:00:05.000+00:00",
        wall_seconds=5.0,
        students=(student,),
    )


def records_of(download: lms.Download) -> list[Record]:
    return [record(s.id, s.student) for s in download.submissions]


# -- reading the downloads ----------------------------------------------------------------------


def test_a_canvas_download_groups_each_students_files_under_their_uploaded_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    got = lms.read_download(canvas_download(tmp_path / "c.zip"), tmp_path / "out")
    assert got is not None and (got.lms, got.layout) == ("canvas", "flat")
    subs = {s.id: s for s in got.submissions}
    assert sorted(subs) == ["canvas-101", "canvas-102", "canvas-103", "canvas-anon_Xk3Pq"]
    by_lms = {s.lms_id: s for s in got.submissions}
    assert sorted(by_lms) == ["canvas:101", "canvas:102", "canvas:103", "canvas:anon_Xk3Pq"]
    ada, bob, cy = by_lms["canvas:101"], by_lms["canvas:102"], by_lms["canvas:103"]
    assert sorted(p.name for p in ada.path.iterdir()) == ["gradients.py", "losses.py", "optim.py"]
    assert (ada.path / "optim.py").read_bytes() == py("solutions", "optim.py")
    assert not ada.late and bob.late and ada.name == "lovelaceada"
    # Bob's two files of one name: the later upload is graded, the other set aside and noted
    assert (bob.path / "losses.py").read_bytes() == py("examples/buggy", "losses.py")
    aside = [f for f in bob.files if f.set_aside]
    assert [f.attachment for f in aside] == ["9002"] and bob.notes
    kept = tmp_path / "out" / "lms" / "set-aside" / bob.id
    assert [p.read_bytes() for p in kept.iterdir()] == [py("assignment", "losses.py")]
    assert [p.name for p in cy.path.iterdir()] == ["text.html"]  # the intake will say why
    # nothing lost: the stray file and the macOS fork are kept and listed
    assert sorted(got.unmatched) == ["README.txt", "__MACOSX/._lovelaceada_101_9001_losses.py"]
    assert (tmp_path / "out" / "lms" / "unmatched" / "README.txt").read_bytes() == b"added by hand"
    err = capsys.readouterr().err
    assert "Canvas download" in err and "README.txt" in err and "1 marked late" in err
    # the manifest gives back what was read
    assert lms.load_manifest(tmp_path / "out") == got


@pytest.mark.parametrize("folders", [True, False], ids=["folders", "flat"])
def test_a_moodle_download_in_either_layout(tmp_path: Path, folders: bool) -> None:
    got = lms.read_download(moodle_download(tmp_path / "m.zip", folders), tmp_path / "out")
    assert got is not None and got.lms == "moodle"
    assert got.layout == ("folders" if folders else "flat")
    by_lms = {s.lms_id: s for s in got.submissions}
    assert sorted(by_lms) == ["", "moodle:501", "moodle:502"]
    ada, bob, team = by_lms["moodle:501"], by_lms["moodle:502"], by_lms[""]
    assert ada.name == "Ada Lovelace" and bob.name == "Bob OByte"
    notes = "extra/notes.txt" if folders else "notes.txt"  # flat drops the sub-folder
    files = sorted(str(p.relative_to(ada.path)) for p in ada.path.rglob("*") if p.is_file())
    assert files == sorted(["losses.py", "optim.py", notes])
    assert sorted(p.name for p in bob.path.iterdir()) == ["losses.py", "onlinetext.html"]
    assert team.name == "Default group" and team.notes  # graded, but Moodle cannot match it
    assert got.unmatched == ["grades-notes.txt"]


def test_the_unzipped_folder_reads_as_the_zip(tmp_path: Path) -> None:
    archive = canvas_download(tmp_path / "c.zip")
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(folder)
    from_zip = lms.read_download(archive, tmp_path / "a")
    from_folder = lms.read_download(folder, tmp_path / "b")
    assert from_zip is not None and from_folder is not None
    assert [(s.id, s.lms_id, s.late, s.files) for s in from_zip.submissions] == [
        (s.id, s.lms_id, s.late, s.files) for s in from_folder.submissions
    ]
    assert from_zip.unmatched == from_folder.unmatched


def test_a_newer_download_replaces_the_older_one(tmp_path: Path) -> None:
    """A resubmission: the next download holds Bob's new attempt only (Canvas zips the current
    attachment ids), so his folder holds only that."""
    out = tmp_path / "out"
    lms.read_download(canvas_download(tmp_path / "c1.zip"), out)
    again = zip_of(
        tmp_path / "c2.zip",
        {canvas_entry("Byte, Bob", 102, 9100, "losses2.py"): b"x = 1\n"},
    )
    got = lms.read_download(again, out)
    assert got is not None and [s.lms_id for s in got.submissions] == ["canvas:102"]
    assert [p.name for p in got.submissions[0].path.iterdir()] == ["losses2.py"]
    assert not (out / "lms" / "set-aside").exists()


def test_links_are_listed_and_a_file_beside_a_folder_of_its_name_is_set_aside(
    tmp_path: Path,
) -> None:
    ada = moodle_prefix("Ada Lovelace", 501)
    link = zipfile.ZipInfo(moodle_entry(ada, "optim.py", True))
    link.external_attr = (0o120777 << 16) | 0x20  # a symbolic link, as zip -y stores one
    with zipfile.ZipFile(tmp_path / "m.zip", "w") as zf:
        zf.writestr(moodle_entry(ada, "losses.py", True), b"a = 1\n")
        zf.writestr(moodle_entry(ada, "losses.py/x.py", True), b"b = 2\n")  # `a` and `a/b`
        zf.writestr(link, "/etc/passwd")
        zf.writestr("notes", b"stray")
        zf.writestr("notes/x", b"stray too")
    got = lms.read_download(tmp_path / "m.zip", tmp_path / "out", io.StringIO())
    assert got is not None
    (sub,) = got.submissions
    assert [(f.path, f.set_aside) for f in sub.files] == [("losses.py", False), ("", True)]
    assert any("losses.py/x.py" in n and "set aside" in n for n in sub.notes)
    assert messages.LMS_LINK.format(entry=link.filename) in got.unmatched
    assert {"notes", "notes/x"} <= set(got.unmatched)
    # a download unpacked into a folder: the link is listed the same way, never followed
    folder = tmp_path / "unpacked"
    (folder / "Ada Lovelace_501_assignsubmission_file").mkdir(parents=True)
    (folder / "Ada Lovelace_501_assignsubmission_file" / "losses.py").write_text("a = 1\n")
    (folder / "Ada Lovelace_501_assignsubmission_file" / "optim.py").symlink_to("/etc/passwd")
    got = lms.read_download(folder, tmp_path / "out2", io.StringIO())
    assert got is not None
    linked = "Ada Lovelace_501_assignsubmission_file/optim.py"
    assert got.unmatched == [messages.LMS_LINK.format(entry=linked)]


def test_a_sub_folder_in_a_canvas_download_is_unmatched_not_a_reason_to_miss_it(
    tmp_path: Path,
) -> None:
    source = zip_of(
        tmp_path / "c.zip",
        {
            canvas_entry("Lovelace, Ada", 101, 9001, "losses.py"): b"a = 1\n",
            canvas_entry("Byte, Bob", 102, 9002, "losses.py"): b"b = 2\n",
            "extra/README.txt": b"someone's folder",
        },
    )
    assert lms.detect(source) == "canvas"
    got = lms.read_download(source, tmp_path / "out", io.StringIO())
    assert got is not None and got.unmatched == ["extra/README.txt"]
    assert [s.lms_id for s in got.submissions] == ["canvas:101", "canvas:102"]
    # but a folder of plain submissions is still not taken for a Canvas download
    plain = zip_of(tmp_path / "p.zip", {"ada/losses.py": b"", "bob/losses.py": b"", "x.py": b""})
    assert lms.detect(plain) is None


def test_canvas_repeat_names_and_old_lowercase_late(tmp_path: Path) -> None:
    """An exact repeat of an entry gets ``-1`` (``make_unique_filename``): the same attachment
    twice is one file, the copy set aside; older Canvas wrote ``late`` in lower case."""
    entry = canvas_entry("Byte, Bob", 102, 9003, "losses.py")
    got = lms.read_download(
        zip_of(
            tmp_path / "c.zip",
            {
                entry: b"a = 1\n",
                entry.replace("losses.py", "losses-1.py"): b"a = 1\n",
                "lovelaceada_late_101_9001_losses.py": b"b = 2\n",
            },
        ),
        tmp_path / "out",
    )
    assert got is not None
    bob, ada = (
        next(s for s in got.submissions if s.lms_id == k) for k in ("canvas:102", "canvas:101")
    )
    assert [p.name for p in bob.path.iterdir()] == ["losses.py"] and bob.notes
    assert ada.late


def test_a_file_too_large_for_any_submission_is_listed_not_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lms, "_MAX_BYTES", 1000)
    big, small = canvas_entry("Byte, Bob", 102, 9003, "data.txt"), "bytebob_102_9004_losses.py"
    got = lms.read_download(
        zip_of(tmp_path / "c.zip", {big: b"x" * 5000, small: b"a = 1\n", "junk.bin": b"y" * 5000}),
        tmp_path / "out",
    )
    assert got is not None
    (bob,) = got.submissions
    assert [p.name for p in bob.path.iterdir()] == ["losses.py"]
    assert [f.entry for f in bob.files if f.set_aside] == [big] and big in bob.notes[0]
    assert got.unmatched == ["junk.bin"] and not (tmp_path / "out" / "lms" / "unmatched").exists()


def test_plain_folders_and_gradescope_exports_are_not_taken_for_an_lms(tmp_path: Path) -> None:
    src = tmp_path / "class"
    (src / "alice").mkdir(parents=True)
    (src / "alice" / "losses.py").write_text("x = 1\n")
    (src / "bob_1_2.zip").write_bytes(b"")  # a plain zip whose name has digit pieces
    (src / "carol.ipynb").write_text("{}")
    assert lms.detect(src) is None
    assert lms.read_download(src, tmp_path / "out") is None
    assert not (tmp_path / "out" / lms.MANIFEST).exists()


def test_an_unsafe_path_in_a_download_stops_the_batch(tmp_path: Path) -> None:
    for n, evil in enumerate(["../evil.py", "Ada_17_assignsubmission_file/../../evil.py"]):
        bad = zip_of(
            tmp_path / f"bad{n}.zip",
            {moodle_entry("Bob Byte_18", "losses.py", True): b"a = 1\n", evil: b"evil"},
        )
        with pytest.raises(BatchError, match="unsafe path"):
            discover.discover(bad, tmp_path / f"out{n}")
    assert [p.name for p in tmp_path.rglob("evil*")] == []


# -- feedback archives and grades out -----------------------------------------------------------


def test_the_canvas_archive_names_every_file_as_canvas_reads_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    got = lms.read_download(canvas_download(tmp_path / "c.zip"), out)
    assert got is not None
    records = [*records_of(got), record("extra-folder", Student(name="Not In Canvas"))]
    pages = {r.id: f"<p>page of {r.id}</p>".encode() for r in records}
    done = lms_out.feedback_archive(out, records, pages.get, tmp_path / "fb.zip", lms="canvas")
    with zipfile.ZipFile(tmp_path / "fb.zip") as zf:
        names = zf.namelist()
        contents = {n: zf.read(n) for n in names}
    by_id = {s.id: s for s in got.submissions}
    for sub_id, entry in done.written:
        sub = by_id[sub_id]
        read = canvas_reads(entry)
        assert read is not None, entry
        key, attachment = read
        # Canvas matches the user and requires one of that submission's own attachments
        assert sub.lms_id == f"canvas:{key}"
        assert attachment in {f.attachment for f in sub.files}
        assert contents[entry] == pages[sub_id]
    assert len(set(names)) == len(names) == len(done.written)  # unzipped by base name: unique
    # every submission of the batch is in the archive or listed with a reason
    seen = {s for s, _ in done.written} | {s for s, _, _ in done.unmatched}
    assert seen == {r.id for r in records}
    why = {s: w for s, _, w in done.unmatched}
    cy = next(s.id for s in got.submissions if s.lms_id == "canvas:103")
    assert set(why) == {cy, "extra-folder"} and "no file" in why[cy]
    listed = done.listed.read_text()
    assert cy in listed and "extra-folder" in listed


def test_the_moodle_archive_names_every_file_as_moodle_reads_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    got = lms.read_download(moodle_download(tmp_path / "m.zip", True), out)
    assert got is not None
    records = records_of(got)
    pages = {r.id: f"page of {r.id}".encode() for r in records}
    done = lms_out.feedback_archive(out, records, pages.get, tmp_path / "fb.zip", "txt")
    participants = {s.lms_id.removeprefix("moodle:") for s in got.submissions if s.lms_id}
    plugins = {("assignfeedback", "file"), ("assignsubmission", "file")}
    with zipfile.ZipFile(tmp_path / "fb.zip") as zf:
        for sub_id, entry in done.written:
            sub = next(s for s in got.submissions if s.id == sub_id)
            assert moodle_reads(entry, participants, plugins) == sub.lms_id.removeprefix("moodle:")
            assert entry.endswith("_assignfeedback_file_feedback.txt")
            assert zf.read(entry) == pages[sub_id]
    assert {s for s, _ in done.written} | {s for s, _, _ in done.unmatched} == {
        r.id for r in records
    }
    team = next(s.id for s in got.submissions if not s.lms_id)
    assert [(s, w) for s, _, w in done.unmatched] == [(team, "no Moodle id")]
    # a name that could break Moodle's split is still read as its student
    odd = lms.LmsSubmission("x", out, "moodle:7", "._Odd_Name/x", files=())
    name = lms_out.moodle_name(odd, "html")
    assert name is not None and moodle_reads(name, {"7"}, plugins) == "7"


def test_an_archive_needs_a_batch_of_an_lms_download(tmp_path: Path) -> None:
    with pytest.raises(lms_out.LmsOutError, match="did not read an LMS download"):
        lms_out.feedback_archive(tmp_path, [], lambda _: b"", tmp_path / "fb.zip")
    lms.read_download(canvas_download(tmp_path / "c.zip"), tmp_path)
    with pytest.raises(lms_out.LmsOutError, match="canvas download, not moodle"):
        lms_out.feedback_archive(tmp_path, [], lambda _: b"", tmp_path / "fb.zip", lms="moodle")


def test_the_commands_say_what_is_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Gradebook(tmp_path / "gradebook.sqlite"):
        pass  # a batch of a plain folder: a gradebook, no lms.json
    fb = str(tmp_path / "fb.zip")
    assert main(["lms-feedback", str(tmp_path), "--out", fb]) == 3
    assert "did not read an LMS download" in capsys.readouterr().err
    assert main(["lms-feedback", str(tmp_path / "nowhere"), "--out", fb]) == 3
    assert "no gradebook" in capsys.readouterr().err
    out = str(tmp_path / "g.csv")
    assert main(["export", str(tmp_path), "--format", "canvas", "--out", out, "--out-of", "9"]) == 3
    assert "--out-of goes with --format moodle" in capsys.readouterr().err
    for bad in (
        [],
        ["--out-of", "nan"],
        ["--out-of", "inf"],
        ["--out-of", "-5"],
        ["--out-of", "0"],
    ):
        assert main(["export", str(tmp_path), "--format", "moodle", "--out", out, *bad]) == 3
        assert "needs --out-of POINTS" in capsys.readouterr().err
    assert (
        main(["export", str(tmp_path), "--format", "moodle", "--out", out, "--out-of", "100"]) == 0
    )
    printed = capsys.readouterr().out
    assert "0 students with a grade" in printed and "team assignment" not in printed


def test_a_moodle_team_download_gets_no_worksheet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a team in Default group: the download's ids are group ids, which may be anyone's
    got = lms.read_download(moodle_download(tmp_path / "m.zip", True), tmp_path, io.StringIO())
    assert got is not None and got.team
    loaded = lms.load_manifest(tmp_path)
    assert loaded is not None and loaded.team
    with Gradebook(tmp_path / "gradebook.sqlite") as book:
        for rec in records_of(got):
            book.record(rec)
    out = tmp_path / "g.csv"
    args = ["export", str(tmp_path), "--format", "moodle", "--out", str(out), "--out-of", "100"]
    assert main(args) == 3
    assert "team assignment" in capsys.readouterr().err and not out.exists()
    # without the team, the same participants are written
    solo = zip_of(
        tmp_path / "solo.zip",
        {moodle_entry(moodle_prefix("Ada Lovelace", 501), "losses.py", True): b"x = 1\n"},
    )
    got = lms.read_download(solo, tmp_path, io.StringIO())
    assert got is not None and not got.team
    assert main(args) == 0 and out.exists()


def test_lms_feedback_says_which_visibilities_it_showed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    got = lms.read_download(canvas_download(tmp_path / "c.zip"), tmp_path, io.StringIO())
    assert got is not None
    with Gradebook(tmp_path / "gradebook.sqlite") as book:
        for rec in records_of(got):
            book.record(rec)
    args = ["lms-feedback", str(tmp_path), "--out", str(tmp_path / "fb.zip")]
    for show, shown in (([], "visible"), (["--show", "after_due_date"], "after_due_date, visible")):
        assert main([*args, *show]) == 0
        printed = capsys.readouterr().out
        assert printed.splitlines()[-1] == messages.FEEDBACK_INDEX_SHOWN.format(shown=shown)
    with zipfile.ZipFile(tmp_path / "fb.zip") as zf:  # compressed, as the ZipInfo says
        assert zf.infolist() and all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
    # an lms.json written while submissions still kept a (never read) prefix loads the same
    manifest = json.loads((tmp_path / lms.MANIFEST).read_text())
    for sub in manifest["submissions"]:
        sub["prefix"] = "old"
    (tmp_path / lms.MANIFEST).write_text(json.dumps(manifest))
    assert lms.load_manifest(tmp_path) == got


def test_moodle_grades_csv_is_the_worksheet_its_import_reads(tmp_path: Path) -> None:
    got = lms.read_download(moodle_download(tmp_path / "m.zip", False), tmp_path / "out")
    assert got is not None
    records = [*records_of(got), record("plain", Student(name="Plain Folder"))]
    evil = Student(name="=HYPERLINK(1)", lms_id="moodle:503")  # a student's own name
    records.append(record("moodle-503", evil))
    done = export_moodle(records, tmp_path / "grades.csv", out_of=100)
    rows = list(csv.reader(io.StringIO((tmp_path / "grades.csv").read_text())))
    assert tuple(rows[0]) == MOODLE_COLUMNS
    for required in ("Identifier", "Grade", "Last modified (grade)"):  # importgradeslib.php
        assert required in rows[0]
    grades = {r[0]: r for r in rows[1:]}
    assert sorted(grades) == ["Participant 501", "Participant 502", "Participant 503"]
    assert grades["Participant 503"][1] == "'=HYPERLINK(1)"  # never a formula
    assert [float(x) for x in grades["Participant 501"][2:4]] == [75, 100]  # 3 of 4, to 100
    assert grades["Participant 502"][1] == "Bob OByte"
    assert done.rows == 3 and sorted(s for s, _ in done.unmatched) == sorted(
        ["plain", next(s.id for s in got.submissions if not s.lms_id)]
    )
    assert done.listed is not None and "plain\tPlain Folder" in done.listed.read_text()


def test_canvas_grades_use_the_canvas_user_id_of_the_download(tmp_path: Path) -> None:
    got = lms.read_download(canvas_download(tmp_path / "c.zip"), tmp_path / "out")
    assert got is not None
    done = export_canvas(records_of(got), tmp_path / "canvas.csv")
    rows = list(csv.reader(io.StringIO((tmp_path / "canvas.csv").read_text())))
    ids = {r[1] for r in rows[2:]}
    assert ids == {"101", "102", "103"}  # Canvas matches a row by ID first
    # the anonymous student has nothing Canvas's import could match: listed, not written
    assert done.rows == 3 and [s.lms_id for _, s in done.unmatched] == ["canvas:anon_Xk3Pq"]


def test_a_newer_download_of_the_same_files_updates_who_sent_them(tmp_path: Path) -> None:
    """An extension lifts Canvas's LATE: the files are the same, so the batch grades nothing
    again, but the gradebook's row must stop saying "marked late" (issue 27)."""
    entry = {"late": canvas_entry("Byte, Bob", 102, 9010, "losses.py", late=True)}
    entry["on time"] = canvas_entry("Byte, Bob", 102, 9010, "losses.py")
    first = zip_of(tmp_path / "late.zip", {entry["late"]: py("assignment", "losses.py")})
    again = zip_of(tmp_path / "on-time.zip", {entry["on time"]: py("assignment", "losses.py")})
    out = tmp_path / "out"
    (job,) = discover.discover(first, out)
    graded = record(job.id, job.students[0])  # as if graded: this content, these suites
    graded = dataclasses.replace(
        graded, content_digest=batch.content_digest(job.path), suite_digest=batch.suite_digest(FAST)
    )
    with Gradebook(out / "gradebook.sqlite") as book:
        book.record(graded)
    summary = batch.run_batch(again, out, FAST, stream=io.StringIO())
    assert summary.skipped == 1  # nothing graded again
    with Gradebook(out / "gradebook.sqlite") as book:
        (rec,) = book.records()
        assert book.history(rec.id) == []
    assert rec.students == (dataclasses.replace(job.students[0], late=False),)
    assert (rec.score, rec.content_digest) == (graded.score, graded.content_digest)


# -- graded end to end --------------------------------------------------------------------------


def plain_folders(root: Path) -> Path:
    """The same files as plain folders: Ada's reference files, Bob's buggy losses.py."""
    (root / "ada").mkdir(parents=True)
    for f in ("losses.py", "optim.py", "gradients.py"):
        shutil.copy(ROOT / "solutions" / f, root / "ada" / f)
    (root / "bob").mkdir()
    shutil.copy(ROOT / "examples" / "buggy" / "losses.py", root / "bob" / "losses.py")
    return root


@pytest.mark.slow
def test_lms_downloads_grade_as_the_same_files_in_folders(tmp_path: Path) -> None:
    plain = plain_folders(tmp_path / "plain")
    canvas = zip_of(
        tmp_path / "canvas.zip",
        {
            **{
                canvas_entry("Lovelace, Ada", 101, 9001 + i, f): py("solutions", f)
                for i, f in enumerate(("losses.py", "optim.py", "gradients.py"))
            },
            canvas_entry("Byte, Bob", 102, 9010, "losses.py", late=True): py(
                "assignment", "losses.py"
            ),
            canvas_entry("Byte, Bob", 102, 9011, "losses.py", late=True): py(
                "examples/buggy", "losses.py"
            ),
            "README.txt": b"stray",
        },
    )
    moodle: dict[str, Path] = {}
    for folders in (True, False):
        ada, bob = moodle_prefix("Ada Lovelace", 501), moodle_prefix("Bob Byte", 502)
        moodle["folders" if folders else "flat"] = zip_of(
            tmp_path / f"moodle-{folders}.zip",
            {
                **{
                    moodle_entry(ada, f, folders): py("solutions", f)
                    for f in ("losses.py", "optim.py", "gradients.py")
                },
                moodle_entry(bob, "losses.py", folders): py("examples/buggy", "losses.py"),
                "stray.txt": b"stray",
            },
        )
    scores = {}
    for label, source in (("plain", plain), ("canvas", canvas), *moodle.items()):
        out = tmp_path / f"out-{label}"
        batch.run_batch(source, out, FAST, stream=io.StringIO())
        with Gradebook(out / "gradebook.sqlite") as book:
            recs = book.records()
        assert all(r.status == "graded" for r in recs), label
        # name the students alike: Ada's submission is the one with "ada" in its id or name
        scores[label] = {_who(r): (r.score, [(o.name, o.score) for o in r.outcomes]) for r in recs}
        if label == "canvas":
            late = {r.students[0].lms_id: r.students[0].late for r in recs}
            assert late == {"canvas:101": False, "canvas:102": True}  # into the gradebook
            assert_canvas_round_trip(out, recs, tmp_path)
        if label == "folders":
            assert_moodle_round_trip(out, recs, tmp_path)
    assert scores["plain"]["ada"][0] > scores["plain"]["bob"][0] > 0
    for label in ("canvas", "folders", "flat"):
        assert scores[label] == scores["plain"], label


def _who(rec: Record) -> str:
    """Ada or Bob, whatever the input: by the LMS's id, else by the plain folder's name."""
    lms_id = rec.students[0].lms_id if rec.students else ""
    if lms_id:
        return "ada" if lms_id.endswith(("101", "501")) else "bob"
    return rec.id


def assert_canvas_round_trip(out: Path, recs: list[Record], tmp_path: Path) -> None:
    """``grader lms-feedback`` attaches each student's own feedback page (``grader feedback``)."""
    archive = tmp_path / "canvas-feedback.zip"
    assert main(["lms-feedback", str(out), "--out", str(archive), "--lms", "canvas"]) == 0
    with zipfile.ZipFile(archive) as zf:
        pages = {canvas_reads(n): zf.read(n).decode() for n in zf.namelist()}
    assert {key for key, _ in pages if key} == {"101", "102"}
    for (key, _), html in pages.items():
        rec = next(r for r in recs if r.students[0].lms_id == f"canvas:{key}")
        others = [r.id for r in recs if r is not rec]
        assert html.lstrip().lower().startswith("<!doctype html") and rec.id in html
        assert not any(other in html for other in others)  # nobody else's page


def assert_moodle_round_trip(out: Path, recs: list[Record], tmp_path: Path) -> None:
    archive, grades = tmp_path / "moodle-feedback.zip", tmp_path / "moodle.csv"
    assert main(["lms-feedback", str(out), "--out", str(archive), "--text"]) == 0
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    plugins = {("assignfeedback", "file")}
    assert sorted(moodle_reads(n, {"501", "502"}, plugins) or "" for n in names) == ["501", "502"]
    out_of = ["--out-of", f"{recs[0].max_score:g}"]  # the grader's own points: no scaling
    assert main(["export", str(out), "--format", "moodle", "--out", str(grades), *out_of]) == 0
    rows = {r[0]: r for r in csv.reader(io.StringIO(grades.read_text()))}
    for rec in recs:
        key = rec.students[0].lms_id.removeprefix("moodle:")
        assert rec.max_score == recs[0].max_score
        assert float(rows[f"Participant {key}"][2]) == pytest.approx(rec.score, abs=0.01)
