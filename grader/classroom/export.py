"""The gradebook as files other tools import: the class spreadsheet, Gradescope's score upload,
and Canvas's gradebook import (issue 14, item 3).

    grader export DIR --csv class.csv --gradescope upload.csv
    grader export DIR --format canvas --out canvas.csv [--roster roster.csv] [--assignment NAME]

Canvas's gradebook import ("How do I import grades in the Gradebook?", Canvas Instructor Guide)
reads a CSV whose header begins with the student columns ``Student, ID, SIS User ID, SIS Login
ID, Section`` followed by one column per assignment, titled ``Name`` (a new assignment) or
``Name (id)`` (an existing one), and an optional second row whose first cell is ``Points
Possible``. A row is matched to a student by ``ID`` (Canvas's own user id), else by ``SIS User
ID`` or ``SIS Login ID``, else by name. An empty score is not "no change": Canvas treats only
a blank over a blank as unchanged and clears a score that is there, so students without a grade
(no submission, a timeout, a grader error) are left out of the file and listed instead. We
fill the student columns from the roster an instructor passes (best: Canvas's own gradebook
export, which has every column), else from what the Gradescope export says of each submitter
(name, SID, email as the login). Nobody is dropped without a word: students of the roster
without a submission, submissions whose students the roster lacks, and submissions with
nothing to match on are all listed in the result (``CanvasExport``) and by the command.

Every cell goes through ``grader.safe_text.csv_writer`` (issue 29): a student's name, email or
SID that begins like a formula is written as text (a leading ``'``), and scores are written as
numbers, unquoted, as each importer's documented columns want them (Canvas: a number or
``EX``; Gradescope's upload: ``Total Score``). A student whose SIS id itself begins with ``=``,
``+``, ``-`` or ``@`` is therefore written with the ``'`` and Canvas will not match that row:
a row to fix by hand, listed by nobody, is the price of never running a student's formula on
the instructor's machine; such ids do not occur in practice.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from grader import messages
from grader.classroom.gradebook import Record, Student
from grader.safe_text import csv_writer, for_terminal

__all__ = [
    "CANVAS_COLUMNS",
    "DEFAULT_ASSIGNMENT",
    "GRADESCOPE_COLUMNS",
    "MOODLE_COLUMNS",
    "CanvasExport",
    "MoodleExport",
    "RosterEntry",
    "RosterError",
    "canvas_lines",
    "export_canvas",
    "export_csv",
    "export_gradescope_csv",
    "export_moodle",
    "moodle_lines",
    "read_roster",
    "write_left_out",
]


def _per_student(records: Sequence[Record]) -> Iterator[tuple[Student, Record]]:
    """One row per student: a group submission counts for each of its submitters."""
    for rec in records:
        for student in rec.students or (Student(),):
            yield student, rec


def _test_columns(records: Sequence[Record]) -> list[tuple[str, str]]:
    """(number, name) of every test seen, in the order of their first appearance."""
    seen: dict[tuple[str, str], None] = {}
    for rec in records:
        for o in rec.outcomes:
            seen.setdefault((o.number, o.name), None)
    return list(seen)


def export_csv(records: Sequence[Record], out: Path) -> int:
    """The class spreadsheet: one row per student; returns the number of rows written."""
    tests = _test_columns(records)
    header = ["submission", "name", "email", "sid", "total", "max", "status"]
    header += [f"{number} {name}" for number, name in tests]
    rows = 0
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv_writer(fh)
        writer.writerow(header)
        for student, rec in _per_student(records):
            scores = {(o.number, o.name): o.score for o in rec.outcomes}
            writer.writerow(
                [
                    rec.id,
                    student.name,
                    student.email,
                    student.sid,
                    _num(rec.score),
                    _num(rec.max_score),
                    rec.status,
                    *(_num(scores[t]) if t in scores else "" for t in tests),
                ]
            )
            rows += 1
    return rows


#: The columns of Gradescope's score-upload template (an assignment's "Upload scores" CSV);
#: Gradescope matches rows on Email (or SID) and reads "Total Score".
GRADESCOPE_COLUMNS: Final = ("Name", "SID", "Email", "Total Score")


def export_gradescope_csv(records: Sequence[Record], out: Path) -> int:
    """A Gradescope score upload: students without an email or SID cannot be matched, skipped."""
    rows = 0
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv_writer(fh)
        writer.writerow(GRADESCOPE_COLUMNS)
        for student, rec in _per_student(records):
            if not (student.email or student.sid):
                continue
            writer.writerow([student.name, student.sid, student.email, _num(rec.score)])
            rows += 1
    return rows


def _num(x: float) -> float | int:
    """A score as a number (so that it is written unquoted and read as one), rounded as ``:g``
    prints it; a whole number without its ``.0``."""
    value = float(f"{x:g}")
    return int(value) if value.is_integer() else value


# -- Canvas -------------------------------------------------------------------------------------

#: Canvas's student columns, in the order its gradebook export writes and its import expects.
CANVAS_COLUMNS: Final = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
#: The first cell of Canvas's optional second row: each assignment's maximum.
POINTS_POSSIBLE: Final = "    Points Possible"
DEFAULT_ASSIGNMENT: Final = "Autograder"

#: Column names a plain roster CSV may use, for each field (compared without case).
_ROSTER_ALIASES: Final = {
    "name": ("student", "name", "student name", "full name"),
    "canvas_id": ("id", "canvas id", "canvas user id"),
    "sis_user_id": ("sis user id", "sid", "student id", "student number"),
    "sis_login_id": ("sis login id", "login", "login id", "username"),
    "section": ("section", "sections"),
    "email": ("email", "e-mail", "email address"),
}


class RosterError(Exception):
    """The roster cannot be read; the message says what it lacks."""


@dataclass(frozen=True)
class RosterEntry:
    name: str = ""
    canvas_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    email: str = ""

    def match_keys(self) -> set[str]:
        """What a submitter may be matched by: SIS ids and email, without case."""
        keys = {
            k.strip().lower()
            for k in (self.sis_user_id, self.sis_login_id, self.email)
            if k and k.strip()
        }
        # A student of a Canvas download carries Canvas's user id (``Student.lms_id``).
        return keys | ({f"canvas:{self.canvas_id.strip()}"} if self.canvas_id.strip() else set())


@dataclass
class CanvasExport:
    rows: int = 0  # students written with a score
    #: roster students without a submission (not written: a blank cell clears a Canvas score)
    no_submission: list[RosterEntry] = field(default_factory=list)
    #: submitters the roster lacks, or with nothing to match on (not written)
    unmatched: list[tuple[str, Student]] = field(default_factory=list)
    #: students whose submission timed out or hit a grader error (not written, as above)
    not_graded: list[tuple[str, Student]] = field(default_factory=list)
    #: students found in more than one submission: the one finished last is written
    duplicates: list[tuple[Student, tuple[str, ...]]] = field(default_factory=list)


def read_roster(path: Path) -> list[RosterEntry]:
    """A roster: Canvas's gradebook export, or any CSV with some of the columns of
    ``_ROSTER_ALIASES`` (name, email, SID, login, section, Canvas id)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RosterError(f"{path}: cannot read it as a UTF-8 CSV ({exc})") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise RosterError(f"{path}: empty; expected a header row and one row per student")
    header = [h.strip().lower() for h in rows[0]]
    where = {}
    for key, aliases in _ROSTER_ALIASES.items():
        for alias in aliases:
            if alias in header:
                where[key] = header.index(alias)
                break
    if not {"sis_user_id", "sis_login_id", "email"} & where.keys():
        raise RosterError(
            f"{path}: no column to match students by; expected Canvas's 'SIS User ID' or "
            "'SIS Login ID' (export the gradebook from Canvas), or 'email' or 'sid'"
        )
    entries = []
    for row in rows[1:]:
        cell = {k: (row[i].strip() if i < len(row) else "") for k, i in where.items()}
        entry = RosterEntry(**cell)
        # Canvas's export also has a Points Possible row, rows marking muted assignments (no
        # name, no ids) and its Test Student, none of them a student to grade.
        if entry.name in ("Points Possible", "Test Student", "Student, Test"):
            continue
        if entry.name or entry.match_keys():
            entries.append(entry)
    return entries


def export_canvas(
    records: Sequence[Record],
    out: Path,
    assignment: str = DEFAULT_ASSIGNMENT,
    roster: Sequence[RosterEntry] | None = None,
) -> CanvasExport:
    """Write Canvas's gradebook import CSV for one assignment column; returns who was not
    matched, so that the caller lists them."""
    result = CanvasExport()
    latest: dict[tuple[str, ...], tuple[Student, Record]] = {}
    seen_in: dict[tuple[str, ...], list[str]] = {}
    for student, rec in _per_student(records):
        key = _student_key(student)
        if not key:
            result.unmatched.append((rec.id, student))
            continue
        seen_in.setdefault(key, []).append(rec.id)
        if key not in latest or rec.finished > latest[key][1].finished:
            latest[key] = (student, rec)
    for key, ids in seen_in.items():
        if len(ids) > 1:
            result.duplicates.append((latest[key][0], tuple(ids)))

    rows: list[list[str | float]] = []
    if roster is None:
        for student, rec in latest.values():
            entry = RosterEntry(
                name=student.name,
                canvas_id=_canvas_user_id(student),
                sis_user_id=student.sid,
                sis_login_id=student.email,
            )
            score = _score(rec, student, result)
            if score != "":
                rows.append(_canvas_row(entry, score))
    else:
        index: dict[str, set[tuple[str, ...]]] = {}
        for key in latest:
            for k in key:
                index.setdefault(k, set()).add(key)
        used: set[tuple[str, ...]] = set()
        for entry in roster:
            found = set().union(*(index.get(k, set()) for k in entry.match_keys()))
            if not found:
                # Not written: Canvas's import clears a score when the cell is blank and the
                # gradebook's is not, so a blank row would erase a grade entered by hand.
                result.no_submission.append(entry)
                continue
            used |= found
            student, rec = latest[max(found, key=lambda k: latest[k][1].finished)]
            score = _score(rec, student, result)
            if score != "":
                rows.append(_canvas_row(entry, score))
        result.unmatched += [
            (rec.id, student) for key, (student, rec) in latest.items() if key not in used
        ]
    points = _points_possible(records)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv_writer(fh)
        writer.writerow([*CANVAS_COLUMNS, assignment])
        writer.writerow([POINTS_POSSIBLE, "", "", "", "", points])
        writer.writerows(rows)
    result.rows = len(rows)
    return result


def _student_key(student: Student) -> tuple[str, ...]:
    # Canvas's user id matches a row; an anonymous id or another LMS's id cannot.
    canvas = f"canvas:{_canvas_user_id(student)}" if _canvas_user_id(student) else ""
    return tuple(k.strip().lower() for k in (student.sid, student.email, canvas) if k and k.strip())


def _canvas_user_id(student: Student) -> str:
    """Canvas's user id of a student read from a Canvas download ("" when anonymous)."""
    key = student.lms_id.removeprefix("canvas:")
    return key if student.lms_id.startswith("canvas:") and key.isdigit() else ""


def _score(rec: Record, student: Student, result: CanvasExport) -> float | str:
    if rec.status != "graded":
        result.not_graded.append((rec.id, student))
        return ""
    return _num(rec.score)


def _canvas_row(entry: RosterEntry, score: float | str) -> list[str | float]:
    return [
        entry.name,
        entry.canvas_id,
        entry.sis_user_id,
        entry.sis_login_id or entry.email,
        entry.section,
        score,
    ]


def _points_possible(records: Sequence[Record]) -> float | str:
    """The maximum most graded submissions have (a mixed gradebook may have several)."""
    maxima = [r.max_score for r in records if r.status == "graded"]
    return _num(max(set(maxima), key=maxima.count)) if maxima else ""


def canvas_lines(done: CanvasExport, out: Path) -> list[str]:
    """What ``grader export --format canvas`` prints: the file, then everyone left out."""
    lines = [f"wrote {out} ({done.rows} students with a score)"]

    def who(s: Student) -> str:
        ids = ", ".join(x for x in (s.sid, s.email) if x)
        return f"{s.name or '(no name)'}" + (f" ({ids})" if ids else "")

    if done.no_submission:
        lines.append(
            f"{len(done.no_submission)} students of the roster have no submission (not written,"
            " so Canvas keeps whatever score they have):"
        )
        for e in done.no_submission:
            ids = ", ".join(x for x in (e.sis_user_id, e.sis_login_id or e.email) if x)
            lines.append(f"  {e.name or '(no name)'}" + (f" ({ids})" if ids else ""))
    if done.unmatched:
        lines.append(
            f"{len(done.unmatched)} submitters could not be matched to a student (not in the"
            " roster, or no SID or email to match by; not written):"
        )
        lines += [f"  {sub_id}: {who(s)}" for sub_id, s in done.unmatched]
    if done.not_graded:
        lines.append(
            f"{len(done.not_graded)} students' submissions timed out or hit a grader error"
            " (not written, so Canvas keeps whatever score they have; see `grader report`):"
        )
        lines += [f"  {sub_id}: {who(s)}" for sub_id, s in done.not_graded]
    if done.duplicates:
        lines.append(
            f"{len(done.duplicates)} students are in more than one submission (the one graded"
            " last is written):"
        )
        lines += [f"  {who(s)}: {', '.join(ids)}" for s, ids in done.duplicates]
    return lines


# -- Moodle -------------------------------------------------------------------------------------

#: The columns of Moodle's grading worksheet that its import reads (``mod/assign/feedback/
#: offline/importgradeslib.php``): ``Identifier``, ``Grade`` and ``Last modified (grade)`` are
#: required, matched to the importing user's language strings (English here); ``Full name``
#: and ``Maximum Grade`` are for the instructor's eye and ignored on import.
MOODLE_COLUMNS: Final = (
    "Identifier",
    "Full name",
    "Grade",
    "Maximum Grade",
    "Last modified (grade)",
)
#: Moodle's "Participant" (``hiddenuser``): the importer strips it to find the participant id.
MOODLE_PARTICIPANT: Final = "Participant "


@dataclass
class MoodleExport:
    rows: int = 0
    #: submissions without a Moodle participant id (not from a Moodle download, or a team with
    #: no group): not written
    unmatched: list[tuple[str, Student]] = field(default_factory=list)
    #: submissions that timed out or hit a grader error: not written (an empty grade is skipped
    #: by Moodle anyway)
    not_graded: list[tuple[str, Student]] = field(default_factory=list)
    listed: Path | None = None  # the file that lists both


def export_moodle(
    records: Sequence[Record], out: Path, out_of: float | None = None
) -> MoodleExport:
    """Moodle's grading-worksheet import for the assignment the download came from.

    ``out_of`` rescales each score to the assignment's maximum grade in Moodle (a grade above it
    is skipped by the import); ``Last modified (grade)`` is when the batch graded it, so a grade
    an instructor changed in Moodle after that is kept unless "Allow updating records that have
    been modified more recently in Moodle than in the spreadsheet" is ticked.
    """
    result = MoodleExport()
    rows: list[list[object]] = []
    for student, rec in _per_student(records):
        key = student.lms_id.removeprefix("moodle:")
        if not student.lms_id.startswith("moodle:") or not key.isdigit():
            result.unmatched.append((rec.id, student))
            continue
        if rec.status != "graded":
            result.not_graded.append((rec.id, student))
            continue
        scale = out_of / rec.max_score if out_of and rec.max_score else 1.0
        rows.append(
            [
                f"{MOODLE_PARTICIPANT}{key}",
                student.name,
                round(rec.score * scale, 2),
                out_of if out_of else rec.max_score,
                rec.finished[:19].replace("T", " ") + " UTC",
            ]
        )
    # Student names are text in a spreadsheet: through safe_text's writer (issue 29), numbers
    # left as numbers (Moodle reads them with unformat_float).
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv_writer(fh)
        writer.writerow(MOODLE_COLUMNS)
        writer.writerows(rows)
    result.rows = len(rows)
    # Everyone left out, in a file beside the CSV as well as printed (``moodle_lines``).
    left = [(i, s.name, messages.LMS_NO_LMS_ID.format(lms="Moodle")) for i, s in result.unmatched]
    left += [(i, s.name, messages.LMS_NOT_GRADED) for i, s in result.not_graded]
    result.listed = out.with_name(out.name + ".unmatched.txt")
    write_left_out(result.listed, left)
    return result


def write_left_out(path: Path, rows: Iterable[tuple[str, str, str]]) -> None:
    """``<out>.unmatched.txt`` beside a file for an LMS: one line per submission left out of
    it, its id, names and why, tab-separated and safe to print (student text, issue 29)."""
    text = "".join("\t".join(map(for_terminal, row)) + "\n" for row in rows)
    path.write_text(text, encoding="utf-8")


def moodle_lines(done: MoodleExport, out: Path) -> list[str]:
    """What ``grader export --format moodle`` prints: the file, then everyone left out."""

    def who(sub_id: str, s: Student) -> str:
        return f"  {for_terminal(sub_id)} ({for_terminal(s.name or '?')})"

    lines = [messages.MOODLE_WROTE.format(out=out, rows=done.rows)]
    if done.listed is not None and (done.unmatched or done.not_graded):
        lines.append(messages.MOODLE_LISTED.format(listed=done.listed))
    if done.unmatched:
        lines.append(messages.MOODLE_UNMATCHED.format(count=len(done.unmatched)))
        lines += [who(sub_id, s) for sub_id, s in done.unmatched]
    if done.not_graded:
        lines.append(messages.MOODLE_NOT_GRADED.format(count=len(done.not_graded)))
        lines += [who(sub_id, s) for sub_id, s in done.not_graded]
    return lines
