"""The README's demo refuses a table whose fixed points do not hold (a broken installation)."""

from __future__ import annotations

from grader.classroom import demo
from grader.grading.results import GradingResult, TestOutcome

REF, STUBS, BUGGY = "reference (solutions/)", "stubs (assignment/)", "examples/buggy"


def graded(score: float, max_score: float = 4.0) -> GradingResult:
    return GradingResult(
        tests=(TestOutcome("t", "1.1", max_score, score, "passed" if score else "failed"),)
    )


def test_a_healthy_table_has_no_problems() -> None:
    rows = [(REF, graded(4), 1.0), (STUBS, graded(0), 1.0), (BUGGY, graded(2), 1.0)]
    assert demo.sanity(rows) == []


def test_a_reference_below_full_marks_a_stub_above_zero_or_a_grader_error_is_a_problem() -> None:
    rows = [
        (REF, graded(3), 1.0),
        (STUBS, graded(1), 1.0),
        (BUGGY, GradingResult(tests=(), grader_error="boom"), 1.0),
    ]
    problems = demo.sanity(rows)
    assert problems == [
        "the grader failed on examples/buggy",
        "the reference scored 3 / 4, not full marks",
        "the stubs scored 1, not 0",
    ]


def test_a_reference_with_no_tests_at_all_is_a_problem() -> None:
    rows = [(REF, GradingResult(tests=()), 1.0)]
    assert demo.sanity(rows) == ["the reference scored 0 / 0, not full marks"]
