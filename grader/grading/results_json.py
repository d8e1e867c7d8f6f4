"""The one serializer from a ``GradingResult`` to Gradescope's results.json (and back, for tests).

Specification: gradescope-autograders.readthedocs.io "specs" (research/autograders.md, A.2).

The file is bounded (issue 14): Gradescope's results page and its upload both suffer at a few
megabytes, and a submission that prints in every call used to fill each test's output with the
sandbox's 64 KiB. The tests' outputs share ``OUTPUT_BUDGET`` bytes and the staff-only texts
(tracebacks, full messages) ``STAFF_BUDGET``; a text over its share keeps its first and last
part and says in the middle how much was cut. Shares are fair: short texts are kept whole, and
what they leave is split evenly between the long ones.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from grader import messages
from grader.grading.results import GradingResult, TestOutcome

#: Bytes of JSON text that the tests' outputs (what the student reads) may take, all together.
OUTPUT_BUDGET: Final = 256 * 2**10
#: Bytes of JSON text for the staff-only texts of all tests together (tracebacks, messages).
STAFF_BUDGET: Final = 256 * 2**10


def to_json(result: GradingResult) -> dict[str, Any]:
    """results.json as a dict: the only place such a dict is built."""
    tests = [_test(t) for t in result.tests]
    if result.grader_error is not None:
        tests.append(
            {
                "name": "Autograder error (staff only)",
                "score": 0.0,
                "max_score": 0.0,
                "status": "failed",
                "output": result.grader_error,
                "output_format": "text",
                "visibility": "hidden",
                "tags": [],
            }
        )
    out: dict[str, Any] = {
        "score": result.score,
        "execution_time": round(result.execution_time, 3),
        "output": messages.GRADER_FAILED if result.grader_error is not None else result.output,
        "output_format": "text",
        "test_output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }
    if result.extra_data:
        out["extra_data"] = dict(result.extra_data)
    shown = [t for t in tests if t["visibility"] != "hidden"]
    _share(OUTPUT_BUDGET, [(out, "output"), *((t, "output") for t in shown)])
    staff = [(t, "output") for t in tests if t["visibility"] == "hidden"]
    staff += [(t["extra_data"], k) for t in tests for k in t.get("extra_data", {})]
    _share(STAFF_BUDGET, [(d, k) for d, k in staff if isinstance(d[k], str)])
    return out


def _cost(text: str) -> int:
    """Bytes the text takes in results.json (UTF-8, with JSON's escapes)."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8")) - 2


def _share(budget: int, places: list[tuple[dict[str, Any], str]]) -> None:
    """Cut the texts at ``places`` (a dict and its key) so that together they cost ``budget``."""
    costs = [_cost(d[k]) for d, k in places]
    if sum(costs) <= budget:
        return
    left, waiting = budget, len(places)
    for i in sorted(range(len(places)), key=costs.__getitem__):
        share = left // waiting
        if costs[i] > share:
            d, k = places[i]
            d[k] = _cut(d[k], share, budget)
            costs[i] = _cost(d[k])
        left -= costs[i]
        waiting -= 1


def _cut(text: str, allowed: int, budget: int) -> str:
    """The first and last part of ``text`` in about ``allowed`` bytes, the cut said between."""

    def longest(fits: Callable[[int], bool], most: int) -> int:
        lo, hi = 0, most  # the largest n in [0, most] with fits(n); fits(0) holds
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
        return lo

    marker = messages.RESULTS_CUT.format(cut=len(text), budget=f"{budget:,}")
    room = max(allowed - _cost(marker), 0)
    head = longest(lambda n: _cost(text[:n]) <= room // 2, len(text))
    tail = longest(lambda n: _cost(text[len(text) - n :]) <= room - room // 2, len(text) - head)
    marker = messages.RESULTS_CUT.format(cut=f"{len(text) - head - tail:,}", budget=f"{budget:,}")
    return text[:head] + marker + text[len(text) - tail :]


def _test(t: TestOutcome) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": t.name,
        "number": t.number,
        "score": t.score,
        "max_score": t.max_score,
        "output": t.output,
        "output_format": "text",
        "tags": list(t.tags),
        "visibility": t.visibility,
    }
    # Gradescope knows only passed and failed. A skipped test (a GPU test on a machine without
    # one) is neither: it carries no status, so it shows as 0/0 with its reason, not a red cross.
    if t.status != "skipped":
        entry["status"] = "passed" if t.status == "passed" else "failed"
    extra = dict(t.extra)
    extra["outcome"] = t.status
    extra["suite"] = t.suite
    extra["duration"] = round(t.duration, 4)
    entry["extra_data"] = extra
    return entry


def effective_visibility(results: Mapping[str, Any], test: Mapping[str, Any]) -> str:
    """A test's own visibility overrides the top-level one; Gradescope's default is visible.

    Read by everything that shows a results.json as Gradescope would (the simulator's summary,
    the batch's feedback pages)."""
    value = test.get("visibility") or results.get("visibility") or "visible"
    return str(value)


def write(result: GradingResult, path: Path) -> None:
    """Write atomically (temp file in the same directory, then rename): never a half file."""
    data = json.dumps(to_json(result), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".results-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
