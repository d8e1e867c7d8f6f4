"""The known-bug probes of a failed check are not the test's own calls (issue 26).

A probe that times out must not count as a timeout strike (shorter limits for later calls), add
to the seconds lost, or mark the test as cut by a timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from grader.grading import checks
from grader.grading.checks import StudentFailure
from grader.grading.student import Student


class _Budget:
    """A sandbox's timeout budget, as ``Sandbox.budget`` and ``restore_budget`` keep it."""

    def __init__(self) -> None:
        self.timeouts: dict[str, int] = {"f": 1}
        self.time_lost = 3.0

    def budget(self) -> tuple[dict[str, int], float]:
        return dict(self.timeouts), self.time_lost

    def restore_budget(self, spent: tuple[dict[str, int], float]) -> None:
        self.timeouts, self.time_lost = dict(spent[0]), spent[1]


def test_calls_aside_leave_the_budget_and_the_test_as_they_were() -> None:
    sandbox = _Budget()
    student = Student(sandbox, {}, frozenset())  # type: ignore[arg-type]
    student.usage.slowest_call = 0.5
    with student.aside():  # a probe that timed out
        sandbox.timeouts["f"] += 1
        sandbox.time_lost += 3.0
        student.usage.slowest_call, student.usage.cut_by = 3.0, "timeout"
    assert sandbox.budget() == ({"f": 1}, 3.0)
    assert (student.usage.slowest_call, student.usage.cut_by) == (0.5, "")


class _Reference:
    @staticmethod
    def f(x: float) -> float:
        return x


class _Student:
    """Answers twice the reference; notes whether each call ran aside."""

    def __init__(self) -> None:
        self.inside = False
        self.calls: list[bool] = []

    @contextmanager
    def aside(self) -> Iterator[None]:
        self.inside = True
        try:
            yield
        finally:
            self.inside = False

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(self.inside)
        return 2 * args[0]


def test_compare_asks_the_probes_aside() -> None:
    def diagnose(name: str, args: Any, kwargs: Any, got: Any, ask: Any = None) -> None:
        ask((5.0,), {})  # a probe

    student = _Student()
    checks.use_diagnosis(diagnose)
    try:
        with pytest.raises(StudentFailure):
            checks.compare(student, _Reference(), "f", 1.0)
    finally:
        checks.use_diagnosis(checks._no_hint)
    assert student.calls == [False, True]  # the test's own call, then the probe aside
