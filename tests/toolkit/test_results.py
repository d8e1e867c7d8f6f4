"""Typed results, score arithmetic and the one serializer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader import messages
from grader.grading import results_json as gradescope
from grader.grading.results import GradingResult, TestOutcome


def outcome(
    score: float, max_score: float = 2.0, status: str = "passed", **kw: object
) -> TestOutcome:
    return TestOutcome(
        name="t",
        number="1.1",
        max_score=max_score,
        score=score,
        status=status,  # type: ignore[arg-type]
        tags=("svm_loss",),
        **kw,  # type: ignore[arg-type]
    )


def test_score_is_the_sum_of_outcomes() -> None:
    result = GradingResult(tests=(outcome(2.0), outcome(0.0, status="failed"), outcome(1.5, 3.0)))
    assert result.score == 3.5
    assert result.max_score == 7.0
    assert result.by_tag() == {"svm_loss": (3.5, 7.0)}


def test_a_score_outside_its_range_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        outcome(3.0, 2.0)


def test_results_are_frozen() -> None:
    t = outcome(1.0)
    with pytest.raises(AttributeError):
        t.score = 2.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        t.extra["x"] = 1  # type: ignore[index]


def test_a_grader_error_scores_zero_whatever_the_tests_say() -> None:
    result = GradingResult(tests=(outcome(2.0),), grader_error="Traceback ...")
    doc = gradescope.to_json(result)
    assert doc["score"] == 0
    assert doc["output"] == messages.GRADER_FAILED
    assert doc["tests"][-1]["visibility"] == "hidden"
    assert "Traceback" in doc["tests"][-1]["output"]


def test_json_follows_gradescope_fields() -> None:
    doc = gradescope.to_json(GradingResult(tests=(outcome(2.0, visibility="after_due_date"),)))
    assert doc["score"] == 2.0
    (t,) = doc["tests"]
    assert t["visibility"] == "after_due_date" and t["status"] == "passed"
    assert t["tags"] == ["svm_loss"] and t["output_format"] == "text"
    json.dumps(doc, allow_nan=False)


def test_a_skipped_gpu_test_is_neither_passed_nor_failed() -> None:
    skipped = outcome(0.0, 0.0, status="skipped", output="this test needs a GPU")
    doc = gradescope.to_json(GradingResult(tests=(outcome(2.0), skipped)))
    passed, gpu = doc["tests"]
    assert passed["status"] == "passed"
    assert "status" not in gpu and gpu["score"] == gpu["max_score"] == 0
    assert gpu["extra_data"]["outcome"] == "skipped"
    assert doc["score"] == 2.0


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    out.write_text("old")
    gradescope.write(GradingResult(tests=(outcome(1.0),)), out)
    assert json.loads(out.read_text())["score"] == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
