"""The class gradebook: one SQLite file, one row per submission and per test outcome.

Written by one process only (the batch's coordinator, which is also the Dask client), one
transaction per finished submission, so a ``kill -9`` leaves every submission either fully
recorded or absent (docs/BATCH.md, "Never lose or duplicate work"). WAL mode lets ``grader
report`` and ``grader export`` read while a batch is writing.

A submission is keyed by its id (the folder / zip / notebook name, or Gradescope's
``submission_<n>``); ``content_digest`` (the engine's sha256 of the student's sources) and
``suite_digest`` (the grading suites, the reference and the grading options) decide whether a
rerun must grade it again; ``grader_version`` says which grader graded it
(``grader.grading.version``).

A grading that replaces a row keeps the old one (issue 14): ``past_submissions`` and
``past_outcomes`` hold every earlier grading of a submission, numbered by ``generation``, so a
regrade can say who changed, by how much and through which tests (``grader.classroom.regrade``).
Each
``grader batch`` or ``grader regrade`` is a row of ``runs``; a submission row names its run.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from grader.grading.version import Version

__all__ = [
    "STATUSES",
    "Gradebook",
    "Outcome",
    "Record",
    "Run",
    "Student",
    "SubmissionStatus",
]

SubmissionStatus = Literal["graded", "timed out", "grader error"]
STATUSES: Final[tuple[SubmissionStatus, ...]] = ("graded", "timed out", "grader error")
SCHEMA_VERSION: Final = "2"

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
    error          TEXT NOT NULL DEFAULT '',
    grader_version TEXT NOT NULL DEFAULT '',
    run            INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS submitters (
    submission_id TEXT NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL,
    sid           TEXT NOT NULL,
    lms_id        TEXT NOT NULL DEFAULT '',
    late          INTEGER NOT NULL DEFAULT 0,
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
    slowest_call  REAL NOT NULL DEFAULT 0,
    peak_memory   INTEGER NOT NULL DEFAULT 0,
    cut_by        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (submission_id, position)
);
CREATE TABLE IF NOT EXISTS runs (
    run            INTEGER PRIMARY KEY,
    started        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    suite_digest   TEXT NOT NULL,
    grader_version TEXT NOT NULL,
    options        TEXT NOT NULL
);
"""

#: Columns a schema-1 gradebook lacks; ``open`` adds them (their defaults fill the old rows).
_ADDED = {
    "submissions": (
        "grader_version TEXT NOT NULL DEFAULT ''",
        "run INTEGER NOT NULL DEFAULT 0",
    ),
    "submitters": (
        "lms_id TEXT NOT NULL DEFAULT ''",
        "late INTEGER NOT NULL DEFAULT 0",
    ),
    "outcomes": (
        "slowest_call REAL NOT NULL DEFAULT 0",
        "peak_memory INTEGER NOT NULL DEFAULT 0",
        "cut_by TEXT NOT NULL DEFAULT ''",
    ),
}

_SUBMISSION_COLUMNS = (
    "id, name, email, content_digest, suite_digest, score, max_score, status, tests, failed,"
    " started, finished, wall_seconds, error, grader_version, run"
)
_OUTCOME_COLUMNS = (
    "submission_id, position, number, name, score, max_score, status, suite, tags,"
    " fingerprint, duration, slowest_call, peak_memory, cut_by"
)
# The history: the same columns (typed as in the live tables by the values copied into them),
# and which grading of the submission each row was.
_PAST = f"""
CREATE TABLE IF NOT EXISTS past_submissions (
    generation INTEGER NOT NULL,
    superseded TEXT NOT NULL,
    {_SUBMISSION_COLUMNS},
    PRIMARY KEY (id, generation)
);
CREATE TABLE IF NOT EXISTS past_outcomes (
    generation INTEGER NOT NULL,
    {_OUTCOME_COLUMNS},
    PRIMARY KEY (submission_id, generation, position)
);
"""


@dataclass(frozen=True)
class Student:
    name: str = ""
    email: str = ""
    sid: str = ""
    #: the LMS's own id, ``canvas:<user id>``, ``canvas:anon_<id>`` or ``moodle:<participant
    #: id>`` (a team's group id), when the batch read an LMS download (``grader.classroom.lms``)
    lms_id: str = ""
    late: bool = False  # the LMS marked this student's submission late


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
    slowest_call: float = 0.0  # wall seconds of the test's slowest call of student code
    peak_memory: int = 0  # bytes above the workers' start-up footprint
    cut_by: str = ""  # "timeout" or "memory" when a limit stopped a call


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
    grader_version: str = ""  # ``grader.grading.version.grader_version()`` of what graded it
    run: int = 0  # the ``runs`` row of the batch that graded it (0: none recorded)

    @property
    def failed(self) -> int:
        return sum(o.status in ("failed", "error") for o in self.outcomes)

    @property
    def version(self) -> Version:
        return Version(self.suite_digest, self.grader_version)


@dataclass(frozen=True)
class Run:
    """One ``grader batch`` (or ``grader regrade``) over the gradebook."""

    run: int
    started: str
    kind: str
    version: Version
    options: dict[str, Any]


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
        for table, columns in _ADDED.items():
            have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            for column in columns:
                if column.split()[0] not in have:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
        conn.executescript(_PAST)
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,)
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

    def start_run(self, kind: str, version: Version, options: dict[str, Any]) -> int:
        """Note a batch over this gradebook; returns its number for the records it writes."""
        cur = self.conn.execute(
            "INSERT INTO runs (started, kind, suite_digest, grader_version, options)"
            " VALUES (?, ?, ?, ?, ?)",
            (_now(), kind, version.suite_digest, version.grader, json.dumps(options)),
        )
        return int(cur.lastrowid or 0)

    def record(self, rec: Record) -> None:
        """Make ``rec`` the row of ``rec.id``, atomically; an earlier row becomes history."""
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            self._keep_as_history(rec.id)
            c.execute("DELETE FROM outcomes WHERE submission_id = ?", (rec.id,))
            c.execute("DELETE FROM submissions WHERE id = ?", (rec.id,))
            c.execute(
                f"INSERT INTO submissions ({_SUBMISSION_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    rec.grader_version,
                    rec.run,
                ),
            )
            _put_submitters(c, rec.id, rec.students)
            c.executemany(
                f"INSERT INTO outcomes ({_OUTCOME_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                        o.slowest_call,
                        o.peak_memory,
                        o.cut_by,
                    )
                    for i, o in enumerate(rec.outcomes)
                ],
            )
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    def set_students(self, sub_id: str, students: Sequence[Student]) -> None:
        """Make ``students`` who submitted ``sub_id``, its grading untouched: a newer download
        of the same files may say otherwise (an extension lifts LATE, Moodle reveals names)."""
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute(
                "UPDATE submissions SET name = ?, email = ? WHERE id = ?",
                (
                    "; ".join(s.name for s in students if s.name),
                    "; ".join(s.email for s in students if s.email),
                    sub_id,
                ),
            )
            _put_submitters(c, sub_id, students)
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    def _keep_as_history(self, sub_id: str) -> None:
        """Copy the current row of ``sub_id`` (if any) and its outcomes into the history."""
        c = self.conn
        if c.execute("SELECT 1 FROM submissions WHERE id = ?", (sub_id,)).fetchone() is None:
            return
        (last,) = c.execute(
            "SELECT coalesce(max(generation), 0) FROM past_submissions WHERE id = ?", (sub_id,)
        ).fetchone()
        generation = int(last) + 1
        c.execute(
            f"INSERT INTO past_submissions (generation, superseded, {_SUBMISSION_COLUMNS})"
            f" SELECT ?, ?, {_SUBMISSION_COLUMNS} FROM submissions WHERE id = ?",
            (generation, _now(), sub_id),
        )
        c.execute(
            f"INSERT INTO past_outcomes (generation, {_OUTCOME_COLUMNS})"
            f" SELECT ?, {_OUTCOME_COLUMNS} FROM outcomes WHERE submission_id = ?",
            (generation, sub_id),
        )

    # -- reading ---------------------------------------------------------------------------------

    def digests(self) -> dict[str, tuple[str, str]]:
        """``{submission id: (content digest, suite digest)}`` of everything recorded."""
        rows = self.conn.execute("SELECT id, content_digest, suite_digest FROM submissions")
        return {r[0]: (r[1], r[2]) for r in rows}

    def states(self) -> dict[str, tuple[str, Version, str]]:
        """``{id: (content digest, version, status)}``: what a rerun decides by, without the
        outcomes (a MOOC's gradebook holds millions)."""
        rows = self.conn.execute(
            "SELECT id, content_digest, suite_digest, grader_version, status FROM submissions"
        )
        return {r[0]: (r[1], Version(r[2], r[3]), r[4]) for r in rows}

    def students(self) -> dict[str, tuple[Student, ...]]:
        """``{id: its submitters}`` of each submission's current row."""
        found: dict[str, list[Student]] = {}
        for sub_id, name, email, sid, lms_id, late in self.conn.execute(
            "SELECT submission_id, name, email, sid, lms_id, late FROM submitters"
            " ORDER BY submission_id, position"
        ):
            found.setdefault(sub_id, []).append(Student(name, email, sid, lms_id, bool(late)))
        return {sub_id: tuple(v) for sub_id, v in found.items()}

    def walls(self) -> dict[str, float]:
        """``{id: wall seconds}`` of each submission's current row: how long it took last time."""
        rows = self.conn.execute("SELECT id, wall_seconds FROM submissions")
        return {r[0]: float(r[1]) for r in rows}

    def versions(self) -> dict[str, Version]:
        return {sub_id: v for sub_id, (_, v, _) in self.states().items()}

    def records(self) -> list[Record]:
        """Every submission with its students and outcomes, ordered by id."""
        return self._read("submissions", "outcomes", "", ())

    def previous(self) -> dict[str, Record]:
        """The grading before the current one, of every submission graded more than once."""
        latest = (
            "JOIN (SELECT id AS pid, max(generation) AS pg FROM past_submissions GROUP BY id)"
            " ON id = pid AND generation = pg"
        )
        return {r.id: r for r in self._read("past_submissions", "past_outcomes", latest, ())}

    def history(self, sub_id: str) -> list[Record]:
        """Every earlier grading of ``sub_id``, the oldest first (the current row not included)."""
        return self._read("past_submissions", "past_outcomes", "WHERE id = ?", (sub_id,))

    def runs(self) -> list[Run]:
        return [
            Run(row[0], row[1], row[2], Version(row[3], row[4]), json.loads(row[5]))
            for row in self.conn.execute(
                "SELECT run, started, kind, suite_digest, grader_version, options FROM runs"
                " ORDER BY run"
            )
        ]

    def _read(self, subs: str, outs: str, where: str, params: tuple[Any, ...]) -> list[Record]:
        c = self.conn
        past = subs != "submissions"
        # A past row is keyed by (id, generation); its outcomes by the same pair.
        key = "generation" if past else "0"
        order = "submission_id, generation, position" if past else "submission_id, position"
        students = self.students()
        outcomes: dict[tuple[str, int], list[Outcome]] = {}
        for row in c.execute(
            f"SELECT submission_id, {key}, number, name, score, max_score, status, suite, tags,"
            f" fingerprint, duration, slowest_call, peak_memory, cut_by FROM {outs}"
            f" ORDER BY {order}"
        ):
            outcomes.setdefault((row[0], row[1]), []).append(
                Outcome(
                    number=row[2],
                    name=row[3],
                    score=row[4],
                    max_score=row[5],
                    status=row[6],
                    suite=row[7],
                    tags=tuple(json.loads(row[8])),
                    fingerprint=row[9],
                    duration=row[10],
                    slowest_call=row[11],
                    peak_memory=row[12],
                    cut_by=row[13],
                )
            )
        out = []
        for row in c.execute(
            f"SELECT id, {key}, content_digest, suite_digest, score, max_score, status, started,"
            f" finished, wall_seconds, error, grader_version, run FROM {subs} {where}"
            " ORDER BY " + ("id, generation" if past else "id"),
            params,
        ):
            out.append(
                Record(
                    id=row[0],
                    content_digest=row[2],
                    suite_digest=row[3],
                    score=row[4],
                    max_score=row[5],
                    status=row[6],
                    started=row[7],
                    finished=row[8],
                    wall_seconds=row[9],
                    error=row[10],
                    grader_version=row[11],
                    run=row[12],
                    students=students.get(row[0], ()),
                    outcomes=tuple(outcomes.get((row[0], row[1]), ())),
                )
            )
        return out


def _put_submitters(c: sqlite3.Connection, sub_id: str, students: Sequence[Student]) -> None:
    c.execute("DELETE FROM submitters WHERE submission_id = ?", (sub_id,))
    c.executemany(
        "INSERT INTO submitters (submission_id, position, name, email, sid, lms_id, late)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (sub_id, i, s.name, s.email, s.sid, s.lms_id, int(s.late))
            for i, s in enumerate(students)
        ],
    )


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
