"""Every sentence a student can read, reviewed as a whole (issue 7, item 4).

The templates live in ``grader.messages``; these tests format each one, and then look at what
real failures produce: what was checked, on what input, expected, got, and what to look at.
"""

from __future__ import annotations

import itertools
import string
from pathlib import Path

import numpy as np
import pytest

from grader import checks, messages
from grader.checks import StudentFailure

TEMPLATES = {
    name: value
    for name, value in vars(messages).items()
    if name.isupper() and isinstance(value, str)
}


def fields(template: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_formats_and_reads_as_a_sentence(name: str) -> None:
    template = TEMPLATES[name]
    sample = {f: f"<{f}>" for f in fields(template)}
    try:
        text = template.format(**sample)
    except (KeyError, ValueError, IndexError):  # numeric formats ({seconds:g}) need numbers
        text = template.format(**{f: 1 for f in fields(template)})
    assert text.strip() and "{" not in text and "}" not in text
    # No stray whitespace at line ends, and no field left unfilled or doubled words.
    assert all(line == line.rstrip() for line in text.splitlines()), name
    words = text.split()
    assert not any(a == b and a.isalpha() for a, b in itertools.pairwise(words)), name


def test_templates_speak_to_the_student_not_about_the_grader() -> None:
    student_facing = {k: v for k, v in TEMPLATES.items() if k not in ("GRADER_FAILED",)}
    for name, text in student_facing.items():
        assert "Traceback" not in text and "pytest" not in text.lower(), name


def test_a_wrong_value_message_has_input_expected_got_and_where() -> None:
    with pytest.raises(StudentFailure) as info:
        checks.expect_close(
            "svm_loss",
            np.array([1.0, 2.5, 3.0]),
            np.array([1.0, 2.0, 3.0]),
            inputs={"scores": np.eye(3), "y": np.array([0, 1, 2])},
        )
    text = info.value.message
    for part in ("`svm_loss` returned a wrong value", "input:", "scores=", "expected:", "got:"):
        assert part in text
    assert "first difference at index 1: expected 2, got 2.5 (1 of 3 entries differ)" in text


def test_shape_type_and_stability_messages_name_the_problem() -> None:
    with pytest.raises(StudentFailure, match=r"shape \(3, 2\); expected shape \(2, 3\)"):
        checks.as_array("softmax", np.zeros((3, 2)), (2, 3))
    with pytest.raises(StudentFailure, match="should return a number"):
        checks.as_scalar("svm_loss", "1.0")
    with pytest.raises(StudentFailure, match="returned nan where the correct result is finite"):
        checks.expect_close("softmax", np.array([np.nan]), np.array([1.0]), inputs={})


def test_large_inputs_are_summarized_not_dumped() -> None:
    text = checks.summarize(np.arange(1000.0).reshape(10, 100))
    assert text == "array of shape (10, 100) (float64), values 0 .. 999"


def test_exit_statuses_read_as_causes() -> None:
    import signal

    from grader.sandbox import DEFAULT_LIMITS

    segv = messages.describe_exit(signal.SIGSEGV, DEFAULT_LIMITS)
    assert "crashed with SIGSEGV" in segv and "segmentation fault" in segv
    assert "called exit()" in messages.describe_exit(3 << 8, DEFAULT_LIMITS)
    assert "too much memory" in messages.describe_exit(signal.SIGKILL, DEFAULT_LIMITS)


def test_sanitize_removes_control_characters_and_bad_utf8() -> None:
    text = messages.sanitize(b"ok\x00\x1b[31mred\xff\r\nnext")
    assert "\x00" not in text and "\x1b" not in text and "\ufffd" in text
    assert text.endswith("\nnext")


def test_student_messages_for_every_failure_kind(tmp_path: Path) -> None:
    from grader.sandbox import StudentError
    from grader.student import failure_from

    cases = {
        "NotImplementedError": "is not implemented yet",
        "SystemExit": "called exit()",
        "MemoryError": "memory limit",
        "ZeroDivisionError": "`svm_loss` raised ZeroDivisionError: division by zero",
    }
    for kind, expected in cases.items():
        failure = failure_from(StudentError(kind, "division by zero"), "svm_loss", "losses")
        assert expected in failure.message, kind
    missing = failure_from(
        StudentError("MissingName", "svm_loss", available='["svm_los", "softmax"]'),
        "svm_loss",
        "losses",
    )
    assert missing.message == "`losses.py` does not define `svm_loss`; did you mean `svm_los`?"
