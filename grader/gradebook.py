"""The class gradebook: one SQLite file, one row per submission and per test outcome.

Written by one process only (the batch's coordinator, which is also the Dask client), one
transaction per finished submission, so a ``kill -9`` leaves every submission either fully
recorded or absent (docs/BATCH.md, "Never lose or duplicate work"). WAL mode lets ``grader
report`` and ``grader export`` read while a batch is writing.

A submission is keyed by its id (the folder / zip / notebook name, or Gradescope's
``submission_<n>``); ``content_digest`` (the engine's sha256 of the student's sources) and
``suite_digest`` (the grading suites, the reference and the grading options) decide whether a
rerun must grade it again.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

__all__ = [
    "STATUSES",
    "Gradebook",
    "Outcome",
    "Record",
    "Student",
    "SubmissionStatus",
    "export_csv",
    "export_gradescope_csv",
]

SubmissionStatus = Literal["graded", "timed out", "grader error"]
STATUSES: Final[tuple[SubmissionStatus, ...]] = ("graded", "timed out", "grader error")
SCHEMA_VERSION: Final = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL DEFAULT '',
    email          TEXT NOT NULL DEFAULT '',
    content_digest TEXT NOT NULL,
    suite_digest   TEXT NOT NULL,
    score          REAL NOT NULL,
    max_score      REAL NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('graded', 'timed out', 'grader error')),
    tests          INTEGER NOT NULL,
    failed         INTEGER NOT NULL,
    started        TEXT NOT NULL,
    finished       TEXT NOT NULL,
    wall_seconds   REAL NOT NULL,
    error          TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS submitters (
    submission_id TEXT NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL,
    sid           TEXT NOT NULL,
    PRIMARY KEY (submission_id, position)
);
CREATE TABLE IF NOT EXISTS outcomes (
    submission_id TEXT NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    number        TEXT NOT NULL,
    name          TEXT NOT NULL,
    score         REAL NOT NULL,
    max_score     REAL NOT NULL,
    status        TEXT NOT NULL,
    suite         TEXT NOT NULL,
    tags          TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    duration      REAL NOT NULL,
    PRIMARY KEY (submission_id, position)
);
"""


@dataclass(frozen=True)
class Student:
    name: str = ""
    email: str = ""
    sid: str = ""


@dataclass(frozen=True)
class Outcome:
    """One test of one submission, as the gradebook keeps it."""

    number: str
    name: str
    score: float
    max_score: float
    status: str  # passed / failed / skipped / error (the engine's, not Gradescope's)
    suite: str
    tags: tuple[str, ...]
    fingerprint: str  # the known-bug hint when the failure matched one, else ""
    duration: float


@dataclass(frozen=True)
class Record:
    """One finished submission: everything one gradebook transaction writes."""

    id: str
    content_digest: str
    suite_digest: str
    score: float
    max_score: float
    status: SubmissionStatus
    started: str  # ISO 8601, UTC
    finished: str
    wall_seconds: float
    students: tuple[Student, ...] = ()
    outcomes: tuple[Outcome, ...] = ()
    error: str = ""  # staff-only: the grader's traceback or the timeout's explanation

    @property
    def failed(self) -> int:
        return sum(o.status in ("failed", "error") for o in self.outcomes)


@dataclass
class Gradebook:
    """A gradebook file; ``with Gradebook(path) as gb:`` opens it (creating it if needed)."""

    path: Path
    _conn: sqlite3.Connection | None = field(default=None, init=False, repr=False)

    def open(self) -> Gradebook:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is exactly
        # one submission and nothing is left implicitly open.
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executescript(_SCHEMA)
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,)
        )
        self._conn = conn
        return self

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Gradebook:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"gradebook {self.path} is not open")
        return self._conn

    # -- writing (one transaction per submission) ---------------------------------------------

    def record(self, rec: Record) -> None:
        """Replace whatever was known about ``rec.id`` with ``rec``, atomically."""
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute("DELETE FROM outcomes WHERE submission_id = ?", (rec.id,))
            c.execute("DELETE FROM submitters WHERE submission_id = ?", (rec.id,))
            c.execute("DELETE FROM submissions WHERE id = ?", (rec.id,))
            c.execute(
                "INSERT INTO submissions (id, name, email, content_digest, suite_digest, score,"
                " max_score, status, tests, failed, started, finished, wall_seconds, error)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rec.id,
                    "; ".join(s.name for s in rec.students if s.name),
                    "; ".join(s.email for s in rec.students if s.email),
                    rec.content_digest,
                    rec.suite_digest,
                    rec.score,
                    rec.max_score,
                    rec.status,
                    len(rec.outcomes),
                    rec.failed,
                    rec.started,
                    rec.finished,
                    rec.wall_seconds,
                    rec.error,
                ),
            )
            c.executemany(
                "INSERT INTO submitters VALUES (?, ?, ?, ?, ?)",
                [(rec.id, i, s.name, s.email, s.sid) for i, s in enumerate(rec.students)],
            )
            c.executemany(
                "INSERT INTO outcomes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        rec.id,
                        i,
                        o.number,
                        o.name,
                        o.score,
                        o.max_score,
                        o.status,
                        o.suite,
                        json.dumps(list(o.tags)),
                        o.fingerprint,
                        o.duration,
                    )
                    for i, o in enumerate(rec.outcomes)
                ],
            )
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    # -- reading ---------------------------------------------------------------------------------

    def digests(self) -> dict[str, tuple[str, str]]:
        """``{submission id: (content digest, suite digest)}`` of everything recorded."""
        rows = self.conn.execute("SELECT id, content_digest, suite_digest FROM submissions")
        return {r[0]: (r[1], r[2]) for r in rows}

    def records(self) -> list[Record]:
        """Every submission with its students and outcomes, ordered by id."""
        c = self.conn
        students: dict[str, list[Student]] = {}
        for sub_id, name, email, sid in c.execute(
            "SELECT submission_id, name, email, sid FROM submitters"
            " ORDER BY submission_id, position"
        ):
            students.setdefault(sub_id, []).append(Student(name, email, sid))
        outcomes: dict[str, list[Outcome]] = {}
        for row in c.execute(
            "SELECT submission_id, number, name, score, max_score, status, suite, tags,"
            " fingerprint, duration FROM outcomes ORDER BY submission_id, position"
        ):
            outcomes.setdefault(row[0], []).append(
                Outcome(
                    number=row[1],
                    name=row[2],
                    score=row[3],
                    max_score=row[4],
                    status=row[5],
                    suite=row[6],
                    tags=tuple(json.loads(row[7])),
                    fingerprint=row[8],
                    duration=row[9],
                )
            )
        out = []
        for row in c.execute(
            "SELECT id, content_digest, suite_digest, score, max_score, status, started,"
            " finished, wall_seconds, error FROM submissions ORDER BY id"
        ):
            out.append(
                Record(
                    id=row[0],
                    content_digest=row[1],
                    suite_digest=row[2],
                    score=row[3],
                    max_score=row[4],
                    status=row[5],
                    started=row[6],
                    finished=row[7],
                    wall_seconds=row[8],
                    error=row[9],
                    students=tuple(students.get(row[0], ())),
                    outcomes=tuple(outcomes.get(row[0], ())),
                )
            )
        return out


# -- exports -------------------------------------------------------------------------------------


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
        writer = csv.writer(fh)
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
        writer = csv.writer(fh)
        writer.writerow(GRADESCOPE_COLUMNS)
        for student, rec in _per_student(records):
            if not (student.email or student.sid):
                continue
            writer.writerow([student.name, student.sid, student.email, _num(rec.score)])
            rows += 1
    return rows


def _num(x: float) -> str:
    return f"{x:g}"
