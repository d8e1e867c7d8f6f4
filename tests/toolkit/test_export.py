"""Canvas's gradebook import (issue 14, item 3): the CSV round-trips through a parser written
against Canvas's documented format, and nobody is dropped without being listed."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader.classroom import export
from grader.classroom.gradebook import Gradebook, Outcome, Record, Student
from grader.cli import ExitCode, main


@dataclass
class CanvasImport:
    """What Canvas's gradebook import reads from a CSV ("How do I import grades in the
    Gradebook?", Canvas Instructor Guide): the header's student columns Student, ID, SIS User
    ID, SIS Login ID, Section, then one column per assignment ("Name" creates one, "Name (id)"
    updates it); an optional row whose first cell says Points Possible; then one row per
    student, found by ID, else SIS User ID, else SIS Login ID, else name. An empty cell
    changes nothing; a score is a number (or EX, excused)."""

    assignments: list[tuple[str, str | None]]
    points: dict[str, float] = field(default_factory=dict)
    #: (how the student is found, that value) -> {assignment: score or None for no change}
    grades: dict[tuple[str, str], dict[str, float | None]] = field(default_factory=dict)
    sections: dict[tuple[str, str], str] = field(default_factory=dict)


STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def parse_canvas(text: str) -> CanvasImport:
    rows = list(csv.reader(text.splitlines()))
    header = rows[0]
    assert header[:5] == STUDENT_COLUMNS, header
    titles = []
    for cell in header[5:]:
        m = re.fullmatch(r"(.*\S)\s*\((\d+)\)", cell)
        titles.append((m[1], m[2]) if m else (cell, None))
    assert titles and all(t for t, _ in titles)
    found = CanvasImport(assignments=titles)
    body = rows[1:]
    if body and body[0][0].strip() == "Points Possible":
        for (title, _), cell in zip(titles, body[0][5:], strict=True):
            found.points[title] = float(cell)
        body = body[1:]
    for row in body:
        assert len(row) == len(header), row
        name, canvas_id, sis_user, sis_login, section = row[:5]
        key = next(
            (k, v)
            for k, v in (
                ("ID", canvas_id),
                ("SIS User ID", sis_user),
                ("SIS Login ID", sis_login),
                ("Student", name),
            )
            if v.strip()
        )
        assert key not in found.grades, f"{key} twice"
        scores: dict[str, float | None] = {}
        for (title, _), cell in zip(titles, row[5:], strict=True):
            value = cell.strip()
            assert value in {"", "EX"} or re.fullmatch(r"-?\d+(\.\d+)?", value), value
            scores[title] = float(value) if value not in ("", "EX") else None
        found.grades[key] = scores
        found.sections[key] = section
    return found


def outcome(score: float) -> Outcome:
    return Outcome("1.1", "t", score, 10.0, "passed", "public", (), "", 0.1)


def record(
    sub_id: str, score: float, students: tuple[Student, ...], status: str = "graded"
) -> Record:
    return Record(
        id=sub_id,
        content_digest=sub_id,
        suite_digest="s",
        score=score if status == "graded" else 0.0,
        max_score=10.0,
        status=status,  # type: ignore[arg-type]
        started="2024-01-01T00:00:00+00:00",
        finished=f"2024-01-01T00:00:0{len(sub_id) % 10}+00:00",
        wall_seconds=1.0,
        students=students,
        outcomes=(outcome(score),),
    )


ADA = Student("Ada Lovelace", "ada@x.org", "1")
ALAN = Student("Alan Turing", "alan@x.org", "2")
GRACE = Student("Grace Hopper", "GRACE@x.org", "3")
EVE = Student("Eve", "eve@x.org", "5")
RECORDS = [
    record("submission_1", 7.5, (ADA,)),
    record("submission_2", 9, (ALAN, GRACE)),  # a group: each member gets the score
    record("s03-plain", 4, ()),  # a folder with no student to match
    record("submission_4", 0, (EVE,), status="timed out"),
]


def test_without_a_roster_the_submitters_are_the_rows(tmp_path: Path) -> None:
    out = tmp_path / "canvas.csv"
    done = export.export_canvas(RECORDS, out)
    canvas = parse_canvas(out.read_text())
    assert canvas.assignments == [("Autograder", None)]
    assert canvas.points == {"Autograder": 10.0}
    assert canvas.grades == {
        ("SIS User ID", "1"): {"Autograder": 7.5},
        ("SIS User ID", "2"): {"Autograder": 9.0},
        ("SIS User ID", "3"): {"Autograder": 9.0},
    }  # Eve timed out: no row, as a blank cell would clear a score Canvas has
    assert "eve@x.org" not in out.read_text()
    assert done.rows == 3
    assert done.unmatched == [("s03-plain", Student())]
    assert done.not_graded == [("submission_4", EVE)]
    rows = list(csv.reader(out.read_text().splitlines()))
    assert rows[2][:4] == ["Ada Lovelace", "", "1", "ada@x.org"]  # the email as the login


#: A roster as Canvas's own gradebook export writes it (its muted row, its Test Student and
#: its read-only columns included), for an existing assignment "Homework 1" with id 101.
ROSTER = """\
Student,ID,SIS User ID,SIS Login ID,Section,Homework 1 (101),Current Score
    Points Possible,,,,,10,(read only)
,,,,,Manual Posting,
"Lovelace, Ada",1001,1,ada@x.org,Section A,,
"Hopper, Grace",1002,3,grace@x.org,Section B,,
"Knuth, Don",1003,9,don@x.org,Section A,,
"Student, Test",1004,,,Section A,,
"Eve",1005,5,eve@x.org,Section B,,
"""


def test_with_a_canvas_roster_students_are_matched_and_the_unmatched_listed(
    tmp_path: Path,
) -> None:
    (tmp_path / "roster.csv").write_text(ROSTER)
    roster = export.read_roster(tmp_path / "roster.csv")
    assert [e.name for e in roster] == ["Lovelace, Ada", "Hopper, Grace", "Knuth, Don", "Eve"]
    out = tmp_path / "canvas.csv"
    done = export.export_canvas(RECORDS, out, "Homework 1 (101)", roster)
    canvas = parse_canvas(out.read_text())
    assert canvas.assignments == [("Homework 1", "101")]
    assert canvas.grades == {
        ("ID", "1001"): {"Homework 1": 7.5},
        ("ID", "1002"): {"Homework 1": 9.0},  # matched by email, whatever its case
    }  # Don (no submission) and Eve (timed out) have no row: a blank would clear a score
    assert "don@x.org" not in out.read_text() and "eve@x.org" not in out.read_text()
    assert canvas.sections[("ID", "1002")] == "Section B"
    assert [e.name for e in done.no_submission] == ["Knuth, Don"]
    assert sorted(sub_id for sub_id, _ in done.unmatched) == ["s03-plain", "submission_2"]
    assert [s for _, s in done.unmatched if s.name] == [ALAN]  # not in the roster
    assert done.not_graded == [("submission_4", EVE)]
    lines = export.canvas_lines(done, out)
    text = "\n".join(lines)
    assert "1 students of the roster have no submission" in text and "Knuth, Don" in text
    assert "2 submitters could not be matched" in text and "Alan Turing (2, alan@x.org)" in text
    assert "submission_4: Eve" in text
    assert "empty score" not in text and text.count("Canvas keeps whatever score") == 2


def test_grader_export_canvas_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Gradebook(tmp_path / "gradebook.sqlite") as book:
        for r in RECORDS:
            book.record(r)
    (tmp_path / "roster.csv").write_text(ROSTER)
    out = tmp_path / "canvas.csv"
    args = ["export", str(tmp_path), "--format", "canvas", "--out", str(out)]
    assert main([*args, "--roster", str(tmp_path / "roster.csv")]) == ExitCode.OK
    printed = capsys.readouterr().out
    assert printed.startswith(f"wrote {out} (2 students with a score)")
    assert "Knuth, Don" in printed and "Alan Turing" in printed
    assert parse_canvas(out.read_text()).grades[("ID", "1001")] == {"Autograder": 7.5}
    # the class CSV and Gradescope's upload are still there, through --format too
    assert main(["export", str(tmp_path), "--format", "gradescope", "--out", str(out)]) == 0
    assert out.read_text().startswith('"Name","SID","Email","Total Score"\n')


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--format", "canvas"], "needs --out FILE"),
        (["--out", "x.csv"], "needs --format"),
        (["--csv", "x.csv", "--roster", "r.csv"], "go with --format canvas"),
        (["--format", "canvas", "--out", "x.csv", "--roster", "bad.csv"], "no column to match"),
    ],
)
def test_bad_export_arguments_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], says: str
) -> None:
    Gradebook(tmp_path / "gradebook.sqlite").open().close()
    (tmp_path / "bad.csv").write_text("name,score\nAda,3\n")
    extra = [str(tmp_path / a) if a.endswith(".csv") else a for a in extra]
    assert main(["export", str(tmp_path), *extra]) == ExitCode.USAGE
    assert says in capsys.readouterr().err
