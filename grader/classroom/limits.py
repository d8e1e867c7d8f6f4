"""Limits from data (issue 14, item 4): what the per-call timeout and the memory limit could be,
from what a batch measured, and how many students each limit would have cut off.

Every test outcome in the gradebook records its slowest call of student code and the peak
memory of its workers (``TestOutcome.slowest_call``, ``peak_memory``) and which limit stopped
a call, if one did (``cut_by``). The suggestions come from the tests that passed, which is
how the reference behaves ("the reference class"): a high quantile of those times a margin,
since the machine that grades for real (Gradescope's half a CPU) may be slower than the one
that measured. A student is cut off by a limit when one of their tests has a call beyond it; a
call already stopped by the current limit counts as cut off by any limit (how long it would
have run is unknown: most are endless loops).

    grader limits DIR
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from grader.classroom.gradebook import Outcome, Record
from grader.sandbox.host import DEFAULT_LIMITS, Limits

__all__ = ["LimitReport", "SlowTest", "Suggestion", "lines", "suggest"]

QUANTILE = 0.999
TIME_MARGIN = 10.0
MEMORY_MARGIN = 4.0
#: Below these a limit would be at the mercy of the machine's load, not of the student's code.
MIN_TIMEOUT = 1.0
MIN_MEMORY = 256 * 2**20
SLOWEST = 10


@dataclass(frozen=True)
class Suggestion:
    what: str  # "per-call timeout" or "memory limit"
    unit: str  # "s" or "MiB"
    current: float
    suggested: float
    basis: str
    cut_now: int  # students the current limit cut off
    cut_suggested: int  # students the suggested one would have
    students: int

    def share(self, n: int) -> float:
        return n / self.students if self.students else 0.0


@dataclass(frozen=True)
class SlowTest:
    number: str
    name: str
    median: float  # seconds of the whole test, over the graded submissions
    p90: float
    slowest: float
    timeouts: int  # submissions whose test a timeout stopped


@dataclass(frozen=True)
class LimitReport:
    timeout: Suggestion
    memory: Suggestion
    slowest: tuple[SlowTest, ...]
    measured: int  # passing test outcomes the suggestions come from


def suggest(records: Sequence[Record], current: Limits = DEFAULT_LIMITS) -> LimitReport:
    graded = [r for r in records if r.status == "graded"]
    passing = [o for r in graded for o in r.outcomes if o.status == "passed"]
    students = sum(_students(r) for r in graded)

    times = [o.slowest_call for o in passing]
    t_q = _quantile(times, QUANTILE)
    timeout = max(_round_up(t_q * TIME_MARGIN), MIN_TIMEOUT)
    memory_q = _quantile([float(o.peak_memory) for o in passing], QUANTILE)
    memory = max(math.ceil(memory_q * MEMORY_MARGIN / (64 * 2**20)) * 64 * 2**20, MIN_MEMORY)

    def cut(over: Callable[[Outcome], bool]) -> int:
        return sum(_students(r) for r in graded if any(over(o) for o in r.outcomes))

    n = len(passing)
    return LimitReport(
        timeout=Suggestion(
            what="per-call timeout",
            unit="s",
            current=current.call_timeout,
            suggested=timeout,
            basis=f"p{QUANTILE * 100:g} of the slowest call of {n} passing tests ({t_q:.3g} s)"
            f" x {TIME_MARGIN:g}, at least {MIN_TIMEOUT:g} s",
            cut_now=cut(lambda o: o.cut_by == "timeout"),
            cut_suggested=cut(lambda o: o.cut_by == "timeout" or o.slowest_call > timeout),
            students=students,
        ),
        memory=Suggestion(
            what="memory limit",
            unit="MiB",
            current=current.memory / 2**20,
            suggested=memory / 2**20,
            basis=f"p{QUANTILE * 100:g} of the peak memory of {n} passing tests"
            f" ({memory_q / 2**20:.3g} MiB) x {MEMORY_MARGIN:g}, rounded up to 64 MiB,"
            f" at least {MIN_MEMORY // 2**20} MiB",
            cut_now=cut(lambda o: o.cut_by == "memory"),
            cut_suggested=cut(lambda o: o.cut_by == "memory" or o.peak_memory > memory),
            students=students,
        ),
        slowest=_slowest(graded),
        measured=n,
    )


def _students(r: Record) -> int:
    return max(len(r.students), 1)


def _quantile(values: Sequence[float], q: float) -> float:
    """The smallest value with at least a fraction ``q`` of ``values`` at or below it."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def _round_up(x: float) -> float:
    """Up to two significant digits: 0.0312 -> 0.032, 3.41 -> 3.5."""
    if x <= 0:
        return 0.0
    step = 10 ** (math.floor(math.log10(x)) - 1)
    return float(round(math.ceil(x / step - 1e-9) * step, 10))


def _slowest(graded: Sequence[Record]) -> tuple[SlowTest, ...]:
    durations: defaultdict[tuple[str, str], list[float]] = defaultdict(list)
    timeouts: defaultdict[tuple[str, str], int] = defaultdict(int)
    for r in graded:
        for o in r.outcomes:
            if o.status == "skipped":
                continue
            durations[(o.number, o.name)].append(o.duration)
            timeouts[(o.number, o.name)] += o.cut_by == "timeout"
    tests = [
        SlowTest(
            number=number,
            name=name,
            median=statistics.median(ds),
            p90=_quantile(ds, 0.9),
            slowest=max(ds),
            timeouts=timeouts[(number, name)],
        )
        for (number, name), ds in durations.items()
    ]
    tests.sort(key=lambda t: (-t.median, -t.slowest, t.number))
    return tuple(tests[:SLOWEST])


def lines(report: LimitReport) -> list[str]:
    """``grader limits``: the suggestions, the students each limit cuts off, the slowest tests."""
    out = [f"Limits from {report.measured} passing tests of this batch:"]
    for s in (report.timeout, report.memory):
        now, then = _students_cut(s, s.cut_now), _students_cut(s, s.cut_suggested)
        out.append(
            f"  {s.what}: now {s.current:g} {s.unit}, cut off {now};"
            f" suggested {s.suggested:g} {s.unit}, would cut off {then}"
        )
        out.append(f"    ({s.basis})")
    if report.slowest:
        out.append("Slowest tests for students (seconds per test: median, p90, slowest):")
        for t in report.slowest:
            stopped = f", {t.timeouts} stopped by the timeout" if t.timeouts else ""
            out.append(
                f"  {t.number} {t.name}: {t.median:.3f}, {t.p90:.3f}, {t.slowest:.3f}{stopped}"
            )
    return out


def _students_cut(s: Suggestion, n: int) -> str:
    return f"{n} of {s.students} students ({s.share(n):.1%})"
