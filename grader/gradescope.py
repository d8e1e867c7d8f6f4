"""The one serializer from a ``GradingResult`` to Gradescope's results.json (and back, for tests).

Specification: gradescope-autograders.readthedocs.io "specs" (research/autograders.md, A.2).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from grader import messages
from grader.results import GradingResult, TestOutcome


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
    return out


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
