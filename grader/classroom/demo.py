"""The README's demo: grade the reference, the stubs and every example submission; print a table."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from grader.authoring import pack
from grader.grading import engine
from grader.grading.results import GradingResult
from grader.sandbox.host import Mother


def submissions() -> list[tuple[str, Path]]:
    """(label, path) of what the demo grades, in a fixed order."""
    found = [
        ("reference (solutions/)", pack.active().solutions),
        ("stubs (assignment/)", pack.active().assignment),
    ]
    if pack.active().examples.is_dir():
        for path in sorted(pack.active().examples.iterdir()):
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
    """Grade everything; print the table. False (and why, on stderr) if ``sanity`` objects."""
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
    problems = sanity(rows)
    for line in problems:
        print(f"demo: {line}", file=sys.stderr)
    return not problems


def sanity(rows: list[tuple[str, GradingResult, float]]) -> list[str]:
    """What is wrong with the demo's table: a grader error, or the two fixed points not holding.

    The reference must get full marks and the stubs zero; anything else means the installation
    (or the grader) is broken, whatever the examples score.
    """
    problems = [f"the grader failed on {label}" for label, r, _ in rows if r.grader_error]
    by_label = {label: r for label, r, _ in rows if r.grader_error is None}
    ref = by_label.get("reference (solutions/)")
    if ref is not None and (ref.max_score == 0 or ref.score != ref.max_score):
        problems.append(f"the reference scored {ref.score:g} / {ref.max_score:g}, not full marks")
    stubs = by_label.get("stubs (assignment/)")
    if stubs is not None and stubs.score != 0:
        problems.append(f"the stubs scored {stubs.score:g}, not 0")
    return problems
