"""What a regrade changed (issue 14): who, by how much, through which tests, and which
submissions were graded by another version than the current one and not yet graded again.

The gradebook keeps every earlier grading of a submission (``Gradebook.previous``); this module
compares two gradings of the same submission and says what moved. It reads, never writes, the
gradebook; ``grader batch`` and ``grader regrade`` print its lines and write ``regrade.txt`` and
``regrade.csv`` next to the gradebook, and ``grader report`` shows the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.classroom.gradebook import Gradebook, Outcome, Record
from grader.grading.version import Version
from grader.safe_text import csv_writer

__all__ = ["Change", "Regrade", "TestChange", "compare", "from_gradebook", "summarize"]

#: How many changed submissions the printed summary lists (the files have all of them).
SHOWN = 20


@dataclass(frozen=True)
class TestChange:
    """One test whose score moved; ``None`` where the test did not exist in that grading."""

    __test__ = False  # not a pytest test class

    number: str
    name: str
    old: float | None
    new: float | None


@dataclass(frozen=True)
class Change:
    """A submission graded again whose score, or the score of one of its tests, moved."""

    id: str
    students: str
    old: float
    new: float
    max_score: float
    reason: str  # what differed between the two gradings
    tests: tuple[TestChange, ...]

    @property
    def delta(self) -> float:
        return round(self.new - self.old, 6)


@dataclass(frozen=True)
class Regrade:
    graded_again: int  # submissions graded again with the same content
    resubmitted: int  # graded again because the student's files changed: not a regrade
    changes: tuple[Change, ...]
    current: Version | None
    stale: tuple[str, ...]  # the submissions graded by another version than ``current``
    versions: tuple[tuple[Version, int], ...]  # every version in the gradebook, rows of each

    @property
    def mixed(self) -> bool:
        return len(self.versions) > 1


def compare(old: Record, new: Record) -> Change | None:
    """What moved between two gradings of one submission; None when nothing did."""
    tests = _test_changes(old.outcomes, new.outcomes)
    if not tests and old.score == new.score and old.status == new.status:
        return None
    return Change(
        id=new.id,
        students=_who(new),
        old=old.score,
        new=new.score,
        max_score=new.max_score,
        reason=_reason(old, new),
        tests=tests,
    )


def _test_changes(old: Sequence[Outcome], new: Sequence[Outcome]) -> tuple[TestChange, ...]:
    # Tests are matched by name (its docstring and parameters), which a suite edit rarely
    # changes, unlike the numbers, which shift when a test is added before others.
    before, after = _by_name(old), _by_name(new)
    out = []
    for key in dict.fromkeys([*after, *before]):
        a, b = before.get(key), after.get(key)
        was = None if a is None else a.score
        now = None if b is None else b.score
        if (was or 0.0) != (now or 0.0):
            ref = b if b is not None else a
            assert ref is not None
            out.append(TestChange(ref.number, ref.name, was, now))
    return tuple(out)


def _by_name(outcomes: Iterable[Outcome]) -> dict[tuple[str, int], Outcome]:
    seen: Counter[str] = Counter()
    out = {}
    for o in outcomes:
        out[(o.name, seen[o.name])] = o
        seen[o.name] += 1
    return out


def _reason(old: Record, new: Record) -> str:
    why = []
    if old.suite_digest != new.suite_digest:
        why.append("suite changed")
    if old.grader_version != new.grader_version:
        why.append("grader changed")
    if old.status != new.status:
        why.append(f"{old.status} -> {new.status}")
    return ", ".join(why) or "graded again by the same version"


def _who(rec: Record) -> str:
    return "; ".join(s.name or s.email or s.sid for s in rec.students)


def summarize(
    regraded: Iterable[tuple[Record, Record]],
    versions: Mapping[str, Version],
    current: Version | None,
) -> Regrade:
    """The regrade of each (old row, new row) pair of one submission; ``versions`` (every row
    of the gradebook after it, ``Gradebook.versions``) for what is stale and what is mixed."""
    again = resubmitted = 0
    changes = []
    for old, new in regraded:
        if old.content_digest != new.content_digest:
            resubmitted += 1
            continue
        again += 1
        change = compare(old, new)
        if change is not None:
            changes.append(change)
    counts = Counter(versions.values())
    stale = tuple(sorted(i for i, v in versions.items() if current is not None and v != current))
    return Regrade(
        graded_again=again,
        resubmitted=resubmitted,
        changes=tuple(sorted(changes, key=lambda c: (-abs(c.delta), c.id))),
        current=current,
        stale=stale,
        versions=tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def from_gradebook(book: Gradebook) -> Regrade:
    """Every submission's latest regrade, against the version of the latest run."""
    previous = book.previous()
    pairs = [(previous[r.id], r) for r in book.records() if r.id in previous]
    runs = book.runs()
    current = runs[-1].version if runs else None
    return summarize(pairs, book.versions(), current)


# -- text and files ---------------------------------------------------------------------------


def lines(r: Regrade) -> list[str]:
    """The summary printed at the end of a batch that graded something again."""
    out = []
    if r.graded_again or r.resubmitted:
        out.append(
            f"Graded again: {r.graded_again} submissions ({r.resubmitted} more were resubmitted"
            f" and graded as new); {len(r.changes)} changed:"
        )
        for c in r.changes[:SHOWN]:
            who = f" ({c.students})" if c.students else ""
            out.append(
                f"  {c.id}{who}: {c.old:g} -> {c.new:g} ({c.delta:+g} of {c.max_score:g})"
                f"  [{c.reason}]"
            )
            for t in c.tests:
                out.append(f"      {t.number} {t.name}: {_score(t.old)} -> {_score(t.new)}")
        if len(r.changes) > SHOWN:
            out.append(f"  ... and {len(r.changes) - SHOWN} more (regrade.csv has them all)")
    if r.stale and r.current is not None:
        ids = ", ".join(r.stale[:SHOWN])
        more = f" and {len(r.stale) - SHOWN} more" if len(r.stale) > SHOWN else ""
        out.append(
            f"Graded by another version than the current one ({r.current.short()}) and not"
            f" yet graded again: {len(r.stale)}: {ids}{more} (`grader regrade` grades them)"
        )
    if r.mixed:
        out.append(f"This gradebook mixes {len(r.versions)} versions:")
        out += [f"  {v.short()}: {n} submissions" for v, n in r.versions]
    return out


def _score(x: float | None) -> str:
    return "absent" if x is None else f"{x:g}"


CSV_COLUMNS = (
    "submission",
    "students",
    "reason",
    "old total",
    "new total",
    "change",
    "test number",
    "test",
    "old score",
    "new score",
)


def write(r: Regrade, folder: Path) -> list[Path]:
    """``regrade.txt`` (the printed lines) and ``regrade.csv`` (one row per changed test)."""
    text, table = folder / "regrade.txt", folder / "regrade.csv"
    text.write_text("\n".join(lines(r)) + "\n", encoding="utf-8")
    with table.open("w", newline="", encoding="utf-8") as fh:
        w = csv_writer(fh)  # student ids and names are text, the scores numbers (issue 29)
        w.writerow(CSV_COLUMNS)
        for c in r.changes:
            head = [c.id, c.students, c.reason, _cell(c.old), _cell(c.new), _cell(c.delta)]
            for t in c.tests or (None,):
                if t is None:
                    w.writerow([*head, "", "", "", ""])
                else:
                    w.writerow([*head, t.number, t.name, _cell(t.old), _cell(t.new)])
    return [text, table]


def _cell(x: float | None) -> float | int | str:
    """A score as a number rounded as ``:g`` prints it (a change keeps its sign: -2, not
    "'-2"), or an empty cell."""
    if x is None:
        return ""
    value = float(f"{x:g}")
    return int(value) if value.is_integer() else value
