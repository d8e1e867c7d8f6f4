"""The README's demo: grade the reference, the stubs and every example submission; print a table."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from grader import engine, layout
from grader.results import GradingResult
from grader.sandbox import Mother


def submissions() -> list[tuple[str, Path]]:
    """(label, path) of what the demo grades, in a fixed order."""
    found = [
        ("reference (solutions/)", layout.SOLUTIONS),
        ("stubs (assignment/)", layout.ASSIGNMENT),
    ]
    if layout.EXAMPLES.is_dir():
        for path in sorted(layout.EXAMPLES.iterdir()):
            if path.is_dir():
                notebooks = sorted(path.glob("*.ipynb"))
                target = notebooks[0] if notebooks and not list(path.glob("*.py")) else path
                found.append((f"examples/{path.name}", target))
    return found


def table(rows: list[tuple[str, GradingResult, float]]) -> str:
    head = f"{'submission':<28} {'score':>13} {'failed':>7} {'time':>7}  weakest functions"
    lines = [head, "-" * len(head)]
    for label, result, seconds in rows:
        if result.grader_error is not None:
            lines.append(f"{label:<28} {'GRADER ERROR':>13}")
            continue
        failed = sum(t.status == "failed" for t in result.tests)
        weak = [
            f"{tag} {got:g}/{avail:g}"
            for tag, (got, avail) in sorted(result.by_tag().items())
            if got < avail
        ]
        weakest = ", ".join(weak[:3]) + (f", +{len(weak) - 3} more" if len(weak) > 3 else "")
        score = f"{result.score:g} / {result.max_score:g}"
        lines.append(f"{label:<28} {score:>13} {failed:>7} {seconds:>6.1f}s  {weakest or '-'}")
    return "\n".join(lines)


def run() -> bool:
    """Grade everything; print the table. False if the grader itself failed on any of them."""
    rows = []
    mother = Mother()
    try:
        for label, path in submissions():
            print(f"grading {label} ...", file=sys.stderr, flush=True)
            start = time.monotonic()
            result = engine.grade(path, mother=mother)
            rows.append((label, result, time.monotonic() - start))
    finally:
        mother.close()
    print(table(rows))
    return all(r.grader_error is None for _, r, _ in rows)
