"""The gradebook: atomic per-submission records, replacement on regrade, CSV exports."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from grader.classroom.export import GRADESCOPE_COLUMNS, export_csv, export_gradescope_csv
from grader.classroom.gradebook import Gradebook, Outcome, Record, Student


def outcome(number: str, score: float, fingerprint: str = "") -> Outcome:
    status = "passed" if score else "failed"
    return Outcome(
        number, f"test {number}", score, 1.0, status, "public", ("svm_loss",), fingerprint, 0.1
    )


def record(sid: str, scores: list[float], students: tuple[Student, ...] = ()) -> Record:
    return Record(
        id=sid,
        content_digest="c-" + sid,
        suite_digest="s",
        score=sum(scores),
        max_score=float(len(scores)),
        status="graded",
        started="2024-01-01T00:00:00.000+00:00",
        finished="2024-01-01T00:00:01.000+00:00",
        wall_seconds=1.0,
        students=students,
        outcomes=tuple(outcome(f"1.{i}", s) for i, s in enumerate(scores)),
    )


def test_record_round_trip_and_replace(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "g.sqlite") as book:
        a = record("a", [1, 0], (Student("Ada", "ada@x.org", "1"),))
        book.record(a)
        book.record(record("b", [1, 1]))
        assert book.records()[0] == a
        regraded = record("a", [1, 1, 1])
        book.record(regraded)  # same id: replaces, never duplicates
        assert [r.id for r in book.records()] == ["a", "b"]
        assert book.records()[0] == regraded
        assert book.digests() == {"a": ("c-a", "s"), "b": ("c-b", "s")}
        assert book.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_failed_write_leaves_nothing_half_written(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "g.sqlite") as book:
        book.record(record("a", [1]))
        bad = Record(**{**record("a", [0, 0]).__dict__, "status": "weird"})  # type: ignore[arg-type]
        with pytest.raises(sqlite3.IntegrityError):
            book.record(bad)
        assert book.records() == [record("a", [1])]  # the old row and its outcomes survive


def test_exports_one_row_per_student(tmp_path: Path) -> None:
    group = (Student("Alan", "alan@x.org", "2"), Student("Grace", "grace@x.org", "3"))
    records = [record("a", [1, 0], group), record("b", [0, 0])]
    n = export_csv(records, tmp_path / "class.csv")
    rows = list(csv.reader((tmp_path / "class.csv").read_text().splitlines()))
    assert n == 3 and len(rows) == 4
    assert rows[0][:7] == ["submission", "name", "email", "sid", "total", "max", "status"]
    assert rows[0][7:] == ["1.0 test 1.0", "1.1 test 1.1"]
    assert rows[1] == ["a", "Alan", "alan@x.org", "2", "1", "2", "graded", "1", "0"]
    assert rows[3][:2] == ["b", ""]
    n = export_gradescope_csv(records, tmp_path / "upload.csv")
    rows = list(csv.reader((tmp_path / "upload.csv").read_text().splitlines()))
    assert n == 2 and tuple(rows[0]) == GRADESCOPE_COLUMNS
    assert rows[2] == ["Grace", "3", "grace@x.org", "1"]


def test_a_replaced_row_is_kept_as_history(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "g.sqlite") as book:
        first, second, third = record("a", [1, 0]), record("a", [1, 1]), record("a", [0, 0])
        for rec in (first, second, third):
            book.record(rec)
        assert book.records() == [third]
        assert book.history("a") == [first, second]
        assert book.previous() == {"a": second}
        book.record(record("b", [1]))
        assert book.history("b") == [] and set(book.previous()) == {"a"}


#: The tables of a schema-1 gradebook (before issue 14), as `grader batch` wrote them.
SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema', '1');
CREATE TABLE submissions (id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '', content_digest TEXT NOT NULL, suite_digest TEXT NOT NULL,
    score REAL NOT NULL, max_score REAL NOT NULL, status TEXT NOT NULL, tests INTEGER NOT NULL,
    failed INTEGER NOT NULL, started TEXT NOT NULL, finished TEXT NOT NULL,
    wall_seconds REAL NOT NULL, error TEXT NOT NULL DEFAULT '');
CREATE TABLE submitters (submission_id TEXT NOT NULL, position INTEGER NOT NULL,
    name TEXT NOT NULL, email TEXT NOT NULL, sid TEXT NOT NULL,
    PRIMARY KEY (submission_id, position));
CREATE TABLE outcomes (submission_id TEXT NOT NULL, position INTEGER NOT NULL,
    number TEXT NOT NULL, name TEXT NOT NULL, score REAL NOT NULL, max_score REAL NOT NULL,
    status TEXT NOT NULL, suite TEXT NOT NULL, tags TEXT NOT NULL, fingerprint TEXT NOT NULL,
    duration REAL NOT NULL, PRIMARY KEY (submission_id, position));
INSERT INTO submissions VALUES ('old', '', '', 'c-old', 's', 1, 1, 'graded', 1, 0,
    '2024-01-01T00:00:00.000+00:00', '2024-01-01T00:00:01.000+00:00', 1.0, '');
INSERT INTO outcomes VALUES ('old', 0, '1.0', 'test 1.0', 1, 1, 'passed', 'public',
    '["svm_loss"]', '', 0.1);
"""


def test_a_schema_1_gradebook_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA_1)
    with Gradebook(path) as book:
        assert book.records() == [record("old", [1])]  # the new fields take their defaults
        assert book.conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("2",)
        book.record(record("old", [0]))  # and the old row becomes history like any other
        assert book.history("old") == [record("old", [1])]
