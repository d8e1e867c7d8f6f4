"""grader.grading.differences: what is true of a wrong answer when no known bug explains it."""

from __future__ import annotations

import numpy as np
import pytest

from grader.grading import checks, differences
from grader.grading.checks import StudentFailure

W = np.array([[0.5, -1.5, 0.0], [2.0, -0.25, 1.0]])
X = np.ones((4, 2))


def test_a_non_finite_loss_is_set_against_the_expected_value() -> None:
    text = differences.describe("loss", float("inf"), 11500.0, {"scores": X})
    assert text == "loss: yours is inf where the expected value is 11500"


def test_non_finite_entries_say_which_kinds_and_the_expected_range() -> None:
    got = W.copy()
    got[0, 0], got[1, 2] = np.nan, -np.inf
    text = differences.describe("dW", got, W, {"W": W})
    assert text is not None and "nan and -inf entries" in text and "0.5 .. 1" in text


@pytest.mark.parametrize(
    ("factor", "words"),
    [(2.0, "twice"), (0.5, "half"), (-1.0, "minus"), (4.0, "N = 4 times"), (0.25, "1/N = 1/4")],
)
def test_a_constant_factor_is_named(factor: float, words: str) -> None:
    expected = np.array([1.5, -2.0, 0.25])
    text = differences.describe("loss", factor * expected, expected, {"X": X, "W": W})
    assert text is not None and words in text


def test_n_is_the_number_of_examples_not_the_first_arguments_rows() -> None:
    """A loss not averaged over the N = 3 examples of X, the weights W (2, 3) passed first."""
    expected = 0.75
    inputs = {"W": W, "X": np.ones((3, 2)), "y": np.array([0, 1, 2]), "reg": 0.1}
    text = differences.describe("loss", 3 * expected, expected, inputs)
    assert text == "loss: yours is exactly N = 3 times the expected one"
    assert differences.describe("loss", 2 * 3 * expected, expected, inputs) is None


def test_without_the_examples_only_the_bare_factor_is_named() -> None:
    expected = np.array([1.5, -2.0, 0.25])
    text = differences.describe("x", 3 * expected, expected, {"W": W})
    assert text == "x: yours is exactly 3 times the expected one"


def test_an_offset_by_a_multiple_of_an_argument_is_named() -> None:
    expected = np.array([[0.1, 0.2, -0.3], [0.0, 0.4, 0.5]])
    text = differences.describe("dW", expected - 0.1 * W, expected, {"X": X, "W": W, "reg": 0.1})
    assert text == "dW: yours differs from the expected one by exactly -0.1 times the argument `W`"


def test_nothing_is_said_where_nothing_simple_is_true() -> None:
    expected = np.array([1.0, 2.0, 3.0])
    assert differences.describe("x", np.array([1.0, 2.5, 3.0]), expected, {"X": X}) is None
    assert differences.describe("x", expected, expected, {}) is None  # the same answer
    assert differences.describe("x", 3.0 * expected, expected, {}) is None  # 3 is not named
    assert differences.describe("x", "text", expected, {}) is None
    # an expected value that is itself not finite: nothing to set against it
    assert differences.describe("x", 1.0, float("inf"), {}) is None


def test_a_failed_check_carries_the_sentence_on_its_own_line() -> None:
    with pytest.raises(StudentFailure) as info:
        checks.expect_close("loss_fn", 2 * 0.75, 0.75, inputs={"X": X})
    assert "\n  what differs: result: yours is exactly twice the expected one" in info.value.message
    with pytest.raises(StudentFailure) as info:
        checks.expect_close("loss_fn", float("inf"), 0.75, inputs={"X": X}, what="loss")
    assert "what differs: loss: yours is inf where the expected value is 0.75" in info.value.message
    # hidden tests show the category, which never carries the numbers
    assert "0.75" not in info.value.category


def test_a_hint_replaces_the_difference() -> None:
    """docs/SUITES.md: "what differs" only where no known bug explains the answer."""

    def diagnose(*_: object, **__: object) -> str:
        return "a known bug"

    with pytest.raises(StudentFailure) as info:
        checks.expect_close(
            "loss_fn", 1.5, 0.75, inputs={"X": X}, diagnose=diagnose, call=((X,), {})
        )
    assert "hint: a known bug" in info.value.message
    assert "what differs" not in info.value.message
    # a hint added after the check (compare's tuple members, with_hint) takes the line out
    with pytest.raises(StudentFailure) as info:
        checks.expect_close("loss_fn", 1.5, 0.75, inputs={"X": X})
    fail = info.value
    assert "what differs" in fail.message
    checks._attach_hint(fail, "loss_fn", ((X,), {}), 1.5, diagnose)
    assert "hint: a known bug" in fail.message and "what differs" not in fail.message
    assert "what differs" not in str(fail)


def test_the_sentence_reads_right_for_a_phrase() -> None:
    """The public schedule tests compare a phrase, not a noun: no "your the learning rate"."""
    what = "the learning rate at t = 0, 1, ..., 10 (index = t)"
    expected = np.linspace(0.1, 0.01, 11)
    text = differences.describe(what, 2 * expected, expected, {"t": np.arange(11)})
    assert text == f"{what}: yours is exactly twice the expected one"
    got = expected.copy()
    got[3] = np.nan
    text = differences.describe(what, got, expected, {})
    assert text is not None and text.startswith(f"{what}: yours has nan entries")
