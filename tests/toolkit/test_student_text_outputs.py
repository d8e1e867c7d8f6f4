"""The instructor's side of the trust boundary (issue 29, "Must hold" 1 and 2).

A Gradescope export and a plain folder input whose submission ids, names, emails and SIDs begin
with each character a spreadsheet or a terminal acts on go through every instructor command:
batch, regrade, every export format (with and without a Canvas roster), the report, limits,
grade and check. Every CSV under the output folder is then read as a spreadsheet would open it
(``spreadsheet.formula_cells``: no cell it would run), the scores are read as the importers
read them (numbers), and the captured stdout and stderr of every command, at the file
descriptors, hold no raw control character (``spreadsheet.raw_controls``).

Seven plus five submissions are graded (``--only losses``, public tests: about a second each),
and the seven again by the regrade.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spreadsheet
import yaml
from test_export import parse_canvas

from grader.cli import main
from grader.safe_text import for_terminal

ROOT = Path(__file__).resolve().parents[2]
FAST_ARGS = ["--jobs", "2", "--suite", "public", "--only", "losses"]

#: What begins each student field: OWASP's formula triggers, and an ANSI escape sequence.
STARTS = {
    "eq": "=",
    "plus": "+",
    "minus": "-",
    "at": "@",
    "tab": "\t",
    "cr": "\r",
    "esc": "\x1b[31m",
}
#: The payloads of issue 29's attack; the HTML tag checks the report's escaping on the way.
NAME = 'HYPERLINK("http://x.invalid","<b>click</b>")'


def fields(key: str) -> dict[str, str]:
    start = STARTS[key]
    return {
        "id": f"{start}{key}1+2",
        "name": f"{start}{NAME}",
        "email": f"{start}{key}@x.invalid",
        "sid": f"{start}2+3{key}",
    }


def _copy(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    for f in sorted(src.glob("*.py")):
        shutil.copy(f, dest / f.name)


def _submission(dest: Path, key: str) -> None:
    """Reference code for eq and plus (a similar pair, full marks), the stubs for minus, and
    for the rest a submission without code (graded 0 at once)."""
    if key in ("eq", "plus"):
        _copy(ROOT / "solutions", dest)
    elif key == "minus":
        _copy(ROOT / "assignment", dest)
    else:
        dest.mkdir(parents=True)
        (dest / "notes.txt").write_text("no code\n")


def make_export(root: Path) -> Path:
    """A Gradescope export folder: ``submission_metadata.yml`` (written as Gradescope's Ruby
    does, symbol keys) and one folder per submission, named by its id."""
    meta = {}
    for key in STARTS:
        f = fields(key)
        _submission(root / f["id"], key)
        person = {":name": f["name"], ":sid": f["sid"], ":email": f["email"]}
        meta[f["id"]] = {":submitters": [person], ":score": 0.0}
    (root / "submission_metadata.yml").write_text(yaml.safe_dump(meta, allow_unicode=True))
    return root


def make_folder(root: Path) -> Path:
    """A plain folder input: folder names are the ids, and an email when they hold an @."""
    for key in ("eq", "at", "tab", "cr", "esc"):
        _submission(root / fields(key)["email"], key)
    return root


def make_roster(path: Path) -> Path:
    """Canvas's gradebook export as a student-named roster: one student matched by SIS id,
    one without a submission (both printed or written by name)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section"])
        w.writerow(["\r=Roster Match", "501", fields("eq")["sid"], "", "@sec"])
        w.writerow(["\x1b]0;title\x07=Roster Absent", "502", "+none", "", "-sec"])
    return path


def run(capfd: pytest.CaptureFixture[str], log: list[str], *args: str | Path) -> None:
    """``grader ARGS`` in this process; its stdout and stderr (file descriptors, so the grading
    processes' too) appended to ``log``."""
    code = main([str(a) for a in args])
    captured = capfd.readouterr()
    log.append(captured.out + captured.err)
    assert code == 0, (args, captured.err)


def cells(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def column(path: Path, name: str) -> list[str]:
    rows = cells(path)
    at = rows[0].index(name)
    return [row[at] for row in rows[1:]]


@pytest.mark.slow
def test_student_text_reaches_no_spreadsheet_formula_and_no_terminal_control(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    given, written = tmp_path / "given", tmp_path / "written"
    export_in = make_export(given / "export")
    folder_in = make_folder(given / "folder")
    roster = make_roster(given / "roster.csv")
    log: list[str] = []

    for name, source in (("gs", export_in), ("plain", folder_in)):
        out = written / name
        run(capfd, log, "batch", source, "--out", out, *FAST_ARGS)
        run(
            capfd,
            log,
            "export",
            out,
            "--csv",
            out / "class.csv",
            "--gradescope",
            out / "upload.csv",
        )
        for fmt in ("csv", "gradescope", "canvas"):
            run(capfd, log, "export", out, "--format", fmt, "--out", out / f"format-{fmt}.csv")
        canvas = ("--format", "canvas", "--out", out / "canvas-roster.csv", "--roster", roster)
        run(capfd, log, "export", out, *canvas)
        run(capfd, log, "limits", out)
        run(capfd, log, "report", out, "--out", out / "report" / "report.html")
        page = (out / "report" / "report.html").read_text(encoding="utf-8")
        assert "<b>click" not in page  # student text is HTML-escaped in the page
        # The students' feedback pages and the LMS round trip print and write student text too.
        run(capfd, log, "feedback", out, "--out", out / "feedback")
        moodle = ("--format", "moodle", "--out", out / "format-moodle.csv", "--out-of", "100")
        run(capfd, log, "export", out, *moodle)

    # A regrade with other suites (one function's tests): the submissions with code change
    # score, and `regrade` prints and writes what changed, by student.
    gs = written / "gs"
    run(capfd, log, "regrade", export_in, "--out", gs, *FAST_ARGS[:-1], "softmax")

    # grade and check, as their own processes (they start again from a scrubbed one): a
    # student's folder named with an escape sequence, holding a file named with one.
    student = folder_in / fields("esc")["email"]
    (student / "\x1b[2J\rnotes.py").write_text("x = 1\n")
    for command in (
        ["grade", str(student), "--out", str(written / "grade.json"), "--only", "softmax"],
        ["check", str(student), "--only", "softmax"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "grader", *command],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
            check=False,
        )
        assert proc.returncode in (0, 1), proc.stderr
        log.append(proc.stdout + proc.stderr)
        # Both name the submission, whose folder is student text: escaped.
        assert for_terminal(student.name) in proc.stdout + proc.stderr, command[0]

    # Every CSV the commands wrote, and none a spreadsheet would run.
    found = {p.relative_to(written).as_posix() for p in spreadsheet.csv_files(written)}
    for name in ("gs", "plain"):
        for file in (
            "class",
            "upload",
            "format-csv",
            "format-gradescope",
            "format-canvas",
            "format-moodle",
        ):
            assert f"{name}/{file}.csv" in found
        assert f"{name}/canvas-roster.csv" in found
    assert {"gs/regrade.csv", "gs/similarity/pairs.csv"} <= found
    assert "gs/report/report-similar-pairs.csv" in found
    assert spreadsheet.formula_cells(written) == []

    # ... while the student text is there, as text (the test saw the attack, not an empty file).
    # (An id is also a file name of results/: the batch keeps + - @ at its start and turns the
    # other characters into "_" plus a hash, so those three are the ones left to the CSV.)
    class_csv = cells(gs / "class.csv")
    for key, start in STARTS.items():
        f = fields(key)
        row = next(r for r in class_csv if r[2].endswith(f["email"]))
        if spreadsheet.is_formula(start):
            assert row[1:4] == [f"'{f['name']}", f"'{f['email']}", f"'{f['sid']}"]
        else:  # the escape sequence is not a formula: written as the student wrote it
            assert row[1:4] == [f["name"], f["email"], f["sid"]]
        if start in "+-@":
            assert row[0].startswith(f"'{f['id']}-")
    regraded = {row[1] for row in cells(gs / "regrade.csv")[1:]}
    assert regraded == {f"'{fields(key)['name']}" for key in ("eq", "plus")}
    pairs = cells(gs / "similarity" / "pairs.csv")
    assert any(cell.startswith(f"'{fields('plus')['id']}-") for cell in pairs[1])

    # The scores stay numbers where the importers need them.
    for name in ("gs", "plain"):
        out = written / name
        scores = column(out / "upload.csv", "Total Score")  # Gradescope's upload template
        totals = column(out / "class.csv", "total") + column(out / "class.csv", "max")
        assert scores and all(float(x) >= 0 for x in scores + totals)
        for canvas in ("format-canvas.csv", "canvas-roster.csv"):  # Canvas: a number or empty
            parsed = parse_canvas((out / canvas).read_text(encoding="utf-8"))
            assert parsed.points["Autograder"] > 0
    full = parse_canvas((gs / "format-canvas.csv").read_text(encoding="utf-8"))
    assert (
        full.grades[("SIS User ID", f"'{fields('eq')['sid']}")]["Autograder"]
        == full.points["Autograder"]
    )
    change = column(gs / "regrade.csv", "change")  # a negative number, not "'-16"
    assert change and all(float(x) < 0 for x in change)
    shares = column(gs / "similarity" / "pairs.csv", "score")
    assert shares and all(0 < float(x) <= 1 for x in shares)

    # No command sent a raw control character to the terminal; the student text it printed
    # shows them escaped.
    printed = "\n".join(log)
    assert spreadsheet.raw_controls(printed) == []
    assert "\\x1b]0;title\\x07=Roster Absent" in printed  # the roster's student, listed
    for key in STARTS:  # the unmatched submitters of the Gradescope export, listed by name
        if key != "eq":
            assert for_terminal(fields(key)["name"]) in printed, key
