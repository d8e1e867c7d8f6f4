"""The gradebook: atomic per-submission records, replacement on regrade, CSV exports."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from grader.export import GRADESCOPE_COLUMNS, export_csv, export_gradescope_csv
from grader.gradebook import Gradebook, Outcome, Record, Student


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
