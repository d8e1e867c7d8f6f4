"""What Gradescope's submission_metadata.json changes about a grading (issue 6, item 5).

``apply(result, metadata, policy)`` is a pure function from one ``GradingResult`` to another:

* always: the submission id, its time and its users go into ``extra_data["submission"]``
  (stored by Gradescope, never shown to students);
* a late penalty (off by default): each started day after the due date scales every test's
  score by ``1 - per_day`` (never below ``1 - max_fraction``), computed from ``created_at``,
  never the wall clock, so a regrade gives the same score (research/autograders.md, A.4);
* a submission limit (off by default): past ``max_submissions`` the tests are still run and
  shown, but score 0; the student can activate an earlier submission in Gradescope.

The policy comes from ``policies.json`` at the autograder's root (written by ``grader package``).

    python -m grader.classroom.policies fallback RESULTS.json REASON

writes the "autograder failed" results.json when the grader was killed before writing one.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from grader.grading.results import GradingResult

POLICY_FILE = "policies.json"


@dataclass(frozen=True)
class Policy:
    late_penalty_per_day: float = 0.0  # 0: off
    late_penalty_max: float = 1.0  # the largest fraction a late penalty can take
    max_submissions: int | None = None  # None: unlimited

    def __post_init__(self) -> None:
        if not 0.0 <= self.late_penalty_per_day <= 1.0:
            raise ValueError(
                f"late_penalty_per_day must be in [0, 1], not {self.late_penalty_per_day}"
            )
        if not 0.0 <= self.late_penalty_max <= 1.0:
            raise ValueError(f"late_penalty_max must be in [0, 1], not {self.late_penalty_max}")
        if self.max_submissions is not None and self.max_submissions < 1:
            raise ValueError(f"max_submissions must be at least 1, not {self.max_submissions}")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Policy:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{POLICY_FILE}: unknown setting(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


def load_policy(source: Path) -> Policy:
    """The policy stored next to the grader (``GRADER_ROOT/policies.json``); off if absent."""
    path = source / POLICY_FILE
    if not path.is_file():
        return Policy()
    return Policy.from_json(json.loads(path.read_text(encoding="utf-8")))


def load_metadata(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: submission metadata is not a JSON object")
    return data


def apply(
    result: GradingResult, metadata: Mapping[str, Any], policy: Policy = Policy()
) -> GradingResult:
    """``result`` with the metadata recorded and the policies applied; ``result`` is unchanged."""
    if result.grader_error is not None:
        return _with_record(result, metadata, notes=[])
    notes: list[str] = []
    factor = 1.0
    taken = 0.0
    days = days_late(metadata)
    if policy.late_penalty_per_day > 0 and days > 0:
        taken = min(policy.late_penalty_max, days * policy.late_penalty_per_day)
        factor = 1.0 - taken
        notes.append(
            f"Submitted {days} day(s) after the due date: late penalty {taken:.0%} "
            "(every test's score is scaled accordingly)."
        )
    number = submission_number(metadata)
    if policy.max_submissions is not None and number > policy.max_submissions:
        factor = 0.0
        notes.append(
            f"This is submission {number}; the limit is {policy.max_submissions}. Your tests ran "
            "for your information but score 0: activate an earlier submission in Gradescope "
            "(Submission History) to keep its score."
        )
    tests = result.tests
    if factor != 1.0:
        tests = tuple(
            dataclasses.replace(t, score=round(t.score * factor, 6)) for t in result.tests
        )
    return _with_record(dataclasses.replace(result, tests=tests), metadata, notes, taken)


def days_late(metadata: Mapping[str, Any]) -> int:
    """Started days between the due date and ``created_at`` (0 when on time or unknown)."""
    assignment = metadata.get("assignment") or {}
    created = _time(metadata.get("created_at"))
    due = _time(assignment.get("due_date"))
    if created is None or due is None or created <= due:
        return 0
    return math.ceil((created - due).total_seconds() / 86400)


def submission_number(metadata: Mapping[str, Any]) -> int:
    """1 for the first submission: Gradescope lists every earlier one."""
    previous = metadata.get("previous_submissions") or []
    return len(previous) + 1 if isinstance(previous, list) else 1


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _with_record(
    result: GradingResult, metadata: Mapping[str, Any], notes: Sequence[str], taken: float = 0.0
) -> GradingResult:
    users = [
        {k: u[k] for k in ("id", "name", "email") if k in u}
        for u in metadata.get("users") or []
        if isinstance(u, dict)
    ]
    record = {
        "id": metadata.get("id"),
        "created_at": metadata.get("created_at"),
        "users": users,
        "number": submission_number(metadata),
        "days_late": days_late(metadata),
        # the fraction the late penalty took (0: none); a batch's feedback page shows it
        "late_penalty": taken,
    }
    extra = dict(result.extra_data)
    extra["submission"] = record
    output = "\n".join([*notes, result.output] if result.output else notes)
    return dataclasses.replace(result, extra_data=extra, output=output)


def main(argv: Sequence[str]) -> int:
    if len(argv) != 3 or argv[0] != "fallback":
        print(
            "usage: python -m grader.classroom.policies fallback RESULTS.json REASON",
            file=sys.stderr,
        )
        return 3
    from grader.grading import results_json as gradescope

    gradescope.write(GradingResult(tests=(), grader_error=argv[2]), Path(argv[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
