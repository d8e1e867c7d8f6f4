"""Regrades with a history and a diff (issue 14, item 2): after a suite change a batch shows
exactly who and which tests moved, keeps the old rows, and a gradebook graded by two versions
says so; ``grader regrade`` grades again what another grader version graded."""

from __future__ import annotations

import csv
import functools
import io
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from grader.authoring import pack
from grader.classroom import batch, regrade
from grader.classroom.gradebook import Gradebook, Outcome, Record, Student
from grader.classroom.report import write_report
from grader.cli import main

ROOT = pack.ROOT
FAST = batch.BatchOptions(
    jobs=2, suites=("public",), only="losses", timeout=120, check_similarity=False
)
FAST_ARGS = ["--jobs", "2", "--suite", "public", "--only", "losses", "--no-similarity"]
#: The suite change: this test (which the buggy example fails: its softmax overflows) is
#: worth 3 points instead of 1.
CHANGED = "softmax stays finite for scores up to 1e4, in rows of very different size"


def make_class(root: Path) -> Path:
    for name, src in [
        ("ref", ROOT / "solutions"),
        ("stub", ROOT / "assignment"),
        ("buggy", ROOT / "examples" / "buggy"),
        ("partial", ROOT / "examples" / "partial"),
    ]:
        (root / name).mkdir(parents=True)
        for f in src.glob("*.py"):
            shutil.copy(f, root / name / f.name)
    return root


def changed_suites(dest: Path) -> Path:
    shutil.copytree(pack.active().suites, dest, ignore=shutil.ignore_patterns("__pycache__"))
    test = dest / "public" / "test_losses.py"
    text = test.read_text()
    old = '@pytest.mark.points(1)\n@pytest.mark.tags("softmax")\ndef test_softmax_large_scores'
    assert old in text
    test.write_text(text.replace(old, old.replace("points(1)", "points(3)")))
    return dest


def rows(out: Path) -> dict[str, Record]:
    with Gradebook(out / "gradebook.sqlite") as book:
        return {r.id: r for r in book.records()}


def test_after_a_suite_change_the_regrade_shows_exactly_who_and_which_tests_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src = make_class(tmp_path / "class")
    out = tmp_path / "out"
    batch.run_batch(src, out, FAST, stream=io.StringIO())
    first = rows(out)
    passed = {r.id for r in first.values() for o in r.outcomes if o.name == CHANGED and o.score > 0}
    assert passed and passed != set(first)  # someone gains, someone does not

    suites = changed_suites(tmp_path / "suites")
    monkeypatch.setenv("GRADER_SUITES", str(suites))  # the grading processes' suites
    # the coordinator's digest
    monkeypatch.setattr(pack, "active", functools.cache(lambda: pack.load(pack.ROOT)))
    assert main(["batch", str(src), "--out", str(out), *FAST_ARGS]) == 0
    printed = capsys.readouterr().out
    again = rows(out)

    moved = {sub_id for sub_id in again if again[sub_id].score != first[sub_id].score}
    assert moved == passed
    assert f"Graded again: {len(first)} submissions" in printed
    assert f"{len(moved)} changed:" in printed
    for sub_id in moved:
        assert f"  {sub_id}: {first[sub_id].score:g} -> {again[sub_id].score:g} (+2 of" in printed
    assert printed.count(f"{CHANGED}: 1 -> 3") == len(moved)  # through that test only
    table = list(csv.DictReader((out / "regrade.csv").read_text().splitlines()))
    assert {(r["submission"], r["test"], r["old score"], r["new score"]) for r in table} == {
        (sub_id, CHANGED, "1", "3") for sub_id in moved
    }
    assert all(r["reason"] == "suite changed" for r in table)
    assert (out / "regrade.txt").read_text().splitlines()[0] in printed

    # The old rows are history, not gone; results.json says what graded it, as the row does.
    with Gradebook(out / "gradebook.sqlite") as book:
        for sub_id, old in first.items():
            assert book.history(sub_id) == [old]
        assert [r.kind for r in book.runs()] == ["batch", "batch"]
    for sub_id, rec in again.items():
        data = json.loads((out / "results" / f"{sub_id}.json").read_text())
        assert data["extra_data"]["version"] == rec.version.as_json()
        assert rec.suite_digest == batch.suite_digest(FAST) != first[sub_id].suite_digest

    page = write_report(out, tmp_path / "report.html")[0].read_text()
    assert 'id="regrades"' in page and f"{CHANGED}: 1 -&gt; 3" in page


def test_a_gradebook_graded_by_two_versions_is_reported_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = make_class(tmp_path / "class")
    out = tmp_path / "out"
    batch.run_batch(src, out, FAST, stream=io.StringIO())
    old = rows(out)
    # The suite changes and only part of the class is graded again (the others are not in
    # this input: withdrawn, or graded elsewhere).
    suites = changed_suites(tmp_path / "suites")
    monkeypatch.setenv("GRADER_SUITES", str(suites))
    monkeypatch.setattr(pack, "active", functools.cache(lambda: pack.load(pack.ROOT)))
    for name in ("stub", "partial"):
        shutil.move(src / name, tmp_path / name)
    stream = io.StringIO()
    summary = batch.run_batch(src, out, FAST, stream=stream)
    assert summary.regrade is not None and summary.regrade.mixed
    assert summary.regrade.stale == ("partial", "stub")
    printed = stream.getvalue()
    assert "This gradebook mixes 2 versions:" in printed
    assert "not yet graded again: 2: partial, stub" in printed
    with Gradebook(out / "gradebook.sqlite") as book:
        found = regrade.from_gradebook(book)
    new_version = rows(out)["ref"].version
    assert found.current == new_version
    assert dict(found.versions) == {new_version: 2, old["stub"].version: 2}
    page = write_report(out, tmp_path / "report.html")[0].read_text()
    assert "This gradebook mixes 2 versions" in page


def test_grader_regrade_grades_again_what_another_grader_version_graded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = make_class(tmp_path / "class")
    out = tmp_path / "out"
    assert main(["batch", str(src), "--out", str(out), *FAST_ARGS]) == 0
    before = rows(out)
    with sqlite3.connect(out / "gradebook.sqlite") as conn:
        conn.execute("UPDATE submissions SET grader_version = '0.0.9+old' WHERE id = 'buggy'")
    # a batch leaves it (only the grader changed) but says it is behind ...
    assert main(["batch", str(src), "--out", str(out), *FAST_ARGS]) == 0
    printed = capsys.readouterr().out
    assert "0 to grade" in printed
    assert "not yet graded again: 1: buggy (`grader regrade` grades them)" in printed
    # ... and `grader regrade` grades that one again, nothing else
    assert main(["regrade", str(src), "--out", str(out), *FAST_ARGS]) == 0
    printed = capsys.readouterr().out
    assert "1 to grade" in printed and "Graded again: 1 submissions" in printed
    assert "0 changed" in printed  # the same scores: the grader changed nothing that counts
    after = rows(out)
    assert after["buggy"].grader_version == before["buggy"].grader_version
    assert after["ref"] == before["ref"]
    with Gradebook(out / "gradebook.sqlite") as book:
        assert [r.grader_version for r in book.history("buggy")] == ["0.0.9+old"]
        assert [r.kind for r in book.runs()] == ["batch", "regrade"]


def outcome(name: str, score: float) -> Outcome:
    return Outcome("1.1", name, score, 2.0, "passed" if score else "failed", "public", (), "", 0.1)


def record(score: float, outcomes: tuple[Outcome, ...], suite: str = "s1") -> Record:
    return Record(
        id="a",
        content_digest="c",
        suite_digest=suite,
        score=score,
        max_score=4.0,
        status="graded",
        started="2024-01-01T00:00:00+00:00",
        finished="2024-01-01T00:00:01+00:00",
        wall_seconds=1.0,
        students=(Student("Ada", "ada@x.org"),),
        outcomes=outcomes,
    )


def test_compare_names_the_tests_that_moved_and_only_those() -> None:
    old = record(2, (outcome("t1", 2), outcome("t2", 0), outcome("gone", 0)))
    new = record(3, (outcome("t1", 2), outcome("t2", 1), outcome("new", 0)), suite="s2")
    change = regrade.compare(old, new)
    assert change is not None and change.delta == 1 and change.students == "Ada"
    assert [(t.name, t.old, t.new) for t in change.tests] == [("t2", 0, 1)]
    assert change.reason == "suite changed"
    assert regrade.compare(old, old) is None
