"""Typed, frozen records of one grading, and the score arithmetic (STYLE.md, 4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

Visibility = Literal["hidden", "after_due_date", "after_published", "visible"]
Status = Literal["passed", "failed", "skipped", "error"]
CutBy = Literal["", "timeout", "memory"]
VISIBILITIES: tuple[Visibility, ...] = ("hidden", "after_due_date", "after_published", "visible")


def _frozen(d: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True)
class TestOutcome:
    """One graded test: what the student earned and what they are told."""

    __test__ = False  # not a pytest test class

    name: str
    number: str
    max_score: float
    score: float
    status: Status
    output: str = ""
    tags: tuple[str, ...] = ()
    visibility: Visibility = "visible"
    suite: str = "public"  # "public" or "hidden"
    nodeid: str = ""
    duration: float = 0.0
    #: staff-only details (full message, traceback, bug fingerprint); never shown to students
    extra: Mapping[str, Any] = field(default_factory=lambda: _frozen(None))
    #: What the test's calls of student code used, for ``grader limits`` (issue 14): kept in the
    #: gradebook, never written to results.json. The slowest call's wall seconds (callbacks to
    #: the trusted side included), the peak memory of its workers above their size when handed
    #: over (bytes of address space), and which limit stopped a call, if one did.
    slowest_call: float = 0.0
    peak_memory: int = 0
    cut_by: CutBy = ""

    def __post_init__(self) -> None:
        if not 0 <= self.score <= self.max_score:
            raise ValueError(f"{self.name}: score {self.score} outside [0, {self.max_score}]")
        object.__setattr__(self, "extra", _frozen(self.extra))

    def to_wire(self) -> dict[str, Any]:
        """Plain JSON data between our own processes (a batch, a sharded grading)."""
        return {
            "name": self.name,
            "number": self.number,
            "max_score": self.max_score,
            "score": self.score,
            "status": self.status,
            "output": self.output,
            "tags": list(self.tags),
            "visibility": self.visibility,
            "suite": self.suite,
            "nodeid": self.nodeid,
            "duration": self.duration,
            "extra": dict(self.extra),
            "slowest_call": self.slowest_call,
            "peak_memory": self.peak_memory,
            "cut_by": self.cut_by,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> TestOutcome:
        """The outcome ``to_wire`` described (its results.json entry is the same)."""
        return cls(**{**data, "tags": tuple(data["tags"])})


@dataclass(frozen=True)
class GradingResult:
    """Everything one grading produced; the only input of
    ``grader.grading.results_json.to_json``."""

    tests: tuple[TestOutcome, ...]
    output: str = ""
    execution_time: float = 0.0
    grader_error: str | None = None  # a traceback for staff when the grader itself failed
    extra_data: Mapping[str, Any] = field(default_factory=lambda: _frozen(None))

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra_data", _frozen(self.extra_data))

    @property
    def score(self) -> float:
        """The sum of trusted outcomes; a grader fault scores 0, never full marks."""
        if self.grader_error is not None:
            return 0.0
        return round(sum(t.score for t in self.tests), 6)

    @property
    def max_score(self) -> float:
        return round(sum(t.max_score for t in self.tests if t.status != "skipped"), 6)

    def by_tag(self) -> dict[str, tuple[float, float]]:
        """(earned, available) per graded function or class."""
        out: dict[str, tuple[float, float]] = {}
        for t in self.tests:
            for tag in t.tags:
                got, avail = out.get(tag, (0.0, 0.0))
                out[tag] = (got + t.score, avail + t.max_score)
        return out
