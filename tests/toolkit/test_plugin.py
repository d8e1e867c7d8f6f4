"""The pytest plugin, tested the way it is used: pytester runs in a subprocess (STYLE.md, 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
import pytest

@pytest.mark.points(1)
@pytest.mark.tags("svm_loss")
def test_ok(student):
    '''hinge loss of one row'''
    import numpy as np
    assert student.svm_loss(np.array([[1.0, 2.0]]), np.array([0])) == 2.0
"""


def run(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    pytester.makepyfile(test_suite=source)
    return pytester.runpytest_subprocess(
        "--grader-submission", str(ROOT / "solutions"), "-p", "no:cacheprovider"
    )


def test_a_well_formed_suite_runs_against_the_submission(pytester: pytest.Pytester) -> None:
    result = run(pytester, GOOD)
    result.assert_outcomes(passed=1)


def test_missing_points_is_an_error(pytester: pytest.Pytester) -> None:
    result = run(pytester, GOOD.replace("@pytest.mark.points(1)\n", ""))
    result.stderr.fnmatch_lines(["*test_ok: needs @pytest.mark.points(n)*"])
    assert result.ret != 0


def test_a_misspelled_tag_suggests_the_name(pytester: pytest.Pytester) -> None:
    result = run(pytester, GOOD.replace('tags("svm_loss")', 'tags("svm_los")'))
    result.stderr.fnmatch_lines(
        ["*tag 'svm_los' is not a function or class*did you mean `svm_loss`?*"]
    )


def test_a_misspelled_marker_is_an_error(pytester: pytest.Pytester) -> None:
    result = run(pytester, GOOD.replace("mark.points(1)", "mark.point(1)"))
    result.stdout.fnmatch_lines(["*'point' not found in `markers` configuration option*"])
    assert result.ret != 0


def test_bad_visibility_is_an_error(pytester: pytest.Pytester) -> None:
    source = GOOD.replace(
        "@pytest.mark.points(1)", '@pytest.mark.points(1)\n@pytest.mark.visibility("secret")'
    )
    result = run(pytester, source)
    result.stderr.fnmatch_lines(["*visibility must be one of hidden, after_due_date*"])


def test_failures_show_the_students_message(pytester: pytest.Pytester) -> None:
    source = (
        GOOD.replace("== 2.0", "== 3.0")
        .replace(
            "assert student", "from grader.grading.checks import StudentFailure\n    if student"
        )
        .replace("== 3.0", "!= 3.0: raise StudentFailure('the loss should be 3 (teacher message)')")
    )
    result = run(pytester, source)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the loss should be 3 (teacher message)*"])


def test_the_plugin_is_inert_without_a_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_x():\n    assert 1 + 1 == 2\n")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_student_fixture_without_a_session_explains(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_x(student):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*the `student` fixture needs a grading session*"])
