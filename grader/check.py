"""The student's local check: the public tests through the same engine, as a readable report.

    python -m grader check [PATH] [--only svm_loss] [--verbose]

One line per function (points earned / available), the reason and the hint under each failure,
a total, and what the hidden tests will also examine. Colours and a progress line on a terminal,
plain text when piped. From a notebook: ``from grader.check import check; check("svm_loss")``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from grader import engine, layout, spec
from grader.results import GradingResult, TestOutcome

#: What the hidden suites examine beyond the public tests, per module (no hidden inputs).
HIDDEN_EXAMINES = {
    "losses": "edge cases (N = 1, C = 2, scores up to ±1e4, rows of very different size, ties), "
    "float32 inputs, inputs left unchanged, and the lecture's quiz properties",
    "gradients": "gradients against PyTorch autograd and against finite differences of your own "
    "loss, regularization on and off, call counts of f, x restored",
    "optim": "long trajectories against torch.optim.SGD / Adam with other hyperparameters, "
    "minibatch sampling, schedules inside minibatch_sgd",
    "schedules": "StepLR / CosineAnnealingLR over many steps, monotonicity, t > T",
    "search": "split and fold properties for many N and k, call counts, log-uniform spread, "
    "tie rules",
    "torch_losses": "backward against torch autograd, gradcheck in float64, dtypes, and CUDA "
    "where the grader has a GPU",
}


@dataclass(frozen=True)
class Style:
    color: bool

    def paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def good(self, text: str) -> str:
        return self.paint(text, "32")

    def bad(self, text: str) -> str:
        return self.paint(text, "31")

    def dim(self, text: str) -> str:
        return self.paint(text, "2")

    def bold(self, text: str) -> str:
        return self.paint(text, "1")


def style_for(stream: TextIO) -> Style:
    tty = hasattr(stream, "isatty") and stream.isatty()
    return Style(color=tty and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb")


def run_check(
    path: Path, only: str | None = None, verbose: bool = False, out: TextIO | None = None
) -> tuple[GradingResult, str]:
    """Grade ``path`` with the public suites; returns the result and the printed report."""
    stream = out if out is not None else sys.stdout
    style = style_for(stream)
    tty = style.color

    def progress(outcome: TestOutcome, total: int) -> None:
        if tty:
            done = progress.count = getattr(progress, "count", 0) + 1  # type: ignore[attr-defined]
            stream.write(f"\r\033[K  checking [{done}/{total}] {outcome.tags[0]} ...")
            stream.flush()

    options = engine.Options(suites=("public",), only=only, verbose=verbose, progress=progress)
    result = engine.grade(path, options)
    if tty:
        stream.write("\r\033[K")
    text = report(result, path, only=only, verbose=verbose, style=style)
    stream.write(text)
    stream.flush()
    return result, text


def report(
    result: GradingResult,
    path: Path,
    only: str | None = None,
    verbose: bool = False,
    style: Style = Style(color=False),
) -> str:
    """The report as text (pure: tests call it on a result)."""
    lines = [style.bold(f"Public tests for {path}") + "\n"]
    if result.grader_error is not None:
        lines.append(style.bad("The checker itself failed; please tell course staff:\n"))
        lines.append(result.grader_error)
        return "".join(lines)
    if result.output:
        lines.extend(f"note: {line}\n" for line in result.output.splitlines())
        lines.append("\n")
    by_function = _group(result.tests)
    for module, names in spec.MODULES.items():
        rows = [(n, by_function[n]) for n in names if n in by_function]
        if not rows:
            continue
        lines.append(style.bold(f"{module}.py") + "\n")
        for name, tests in rows:
            got = sum(t.score for t in tests)
            avail = sum(t.max_score for t in tests)
            failed = [t for t in tests if t.status == "failed"]
            mark = style.good("ok  ") if not failed else style.bad("FAIL")
            lines.append(f"  {mark} {name:<24} {got:g}/{avail:g}\n")
            for t in failed if verbose else failed[:1]:
                lines.append(_indent(style.dim(f"[{t.name}]") + "\n" + t.output.strip(), 8))
            if failed and not verbose and len(failed) > 1:
                lines.append(" " * 8 + style.dim(f"(+{len(failed) - 1} more failing)") + "\n")
    total, avail = result.score, result.max_score
    passed = sum(t.status == "passed" for t in result.tests)
    lines.append(
        "\n"
        + style.bold(f"Total: {total:g}/{avail:g} public points")
        + f" ({passed} of {len(result.tests)} tests passed)\n"
    )
    if only in spec.MODULES:
        modules = [only]
    else:
        modules = [spec.module_of(only)] if only else list(spec.MODULES)
    lines.append("\nThe hidden tests will also examine:\n")
    for module in modules:
        lines.append(f"  {module}.py: {HIDDEN_EXAMINES[module]}\n")
    return "".join(lines)


def _group(tests: Iterable[TestOutcome]) -> dict[str, list[TestOutcome]]:
    out: dict[str, list[TestOutcome]] = {}
    for t in tests:
        out.setdefault(t.tags[0], []).append(t)
    return out


def _indent(text: str, n: int) -> str:
    pad = " " * n
    return "".join(pad + line + "\n" for line in text.splitlines())


def passed(result: GradingResult) -> bool:
    return result.grader_error is None and all(t.status != "failed" for t in result.tests)


def check(name: str | None = None, path: str | Path = ".", verbose: bool = False) -> bool:
    """From a notebook cell: check one function or module (or all) of the files in ``path``."""
    if name is not None and name not in spec.MODULE_OF and name not in spec.MODULES:
        raise ValueError(f"{name!r} is not part of the assignment{spec.did_you_mean(name)}")
    result, _ = run_check(Path(path), only=name, verbose=verbose)
    return passed(result)


def default_path() -> Path:
    return layout.ASSIGNMENT
