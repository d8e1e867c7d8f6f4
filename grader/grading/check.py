"""The student's local check: the public tests through the same engine, as a readable report.

    python -m grader check [PATH] [--only FUNCTION | --only MODULE] [--verbose] [--pack DIR]

One line per function (points earned / available); under each failure what was checked and why
it failed (input, expected, got, and a hint where a known bug matches); a function that is not
written yet takes one line. Then a total and what the hidden tests will also examine. Colours
and a progress line on a terminal, plain text when piped. From a notebook:
``from grader.grading.check import check; check("relu_forward")``. Every sentence comes from
``grader.messages``.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from grader import messages
from grader.authoring import pack
from grader.grading import engine
from grader.grading.results import GradingResult, TestOutcome
from grader.safe_text import for_terminal

#: Files that sit next to the stubs in ``assignment/`` and are not part of a submission: the
#: intake's "we ignored ..." note about them is noise in a local check. Jupyter adds the last two.
COMPANIONS = frozenset({"README.md", "assignment.ipynb", "pytest.ini"})
COMPANION_FOLDERS = (".ipynb_checkpoints/", "__pycache__/")

WIDTH = 100


@dataclass(frozen=True)
class Style:
    color: bool

    def paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def good(self, text: str) -> str:
        return self.paint(text, "32")

    def bad(self, text: str) -> str:
        return self.paint(text, "31")

    def todo(self, text: str) -> str:
        return self.paint(text, "33")

    def dim(self, text: str) -> str:
        return self.paint(text, "2")

    def bold(self, text: str) -> str:
        return self.paint(text, "1")


def interactive(stream: TextIO) -> bool:
    """A terminal that can redraw a line (the progress line), not a pipe or a dumb terminal."""
    tty = hasattr(stream, "isatty") and stream.isatty()
    return tty and os.environ.get("TERM") != "dumb"


def style_for(stream: TextIO) -> Style:
    return Style(color=interactive(stream) and "NO_COLOR" not in os.environ)


@dataclass(frozen=True)
class Checked:
    """What :func:`check` returns: true when every public test it ran passed.

    A notebook shows nothing for it (the report above says it all), so a check cell does not end
    in a bare ``True`` or ``False``; elsewhere it reads ``Checked(passed=...)``.
    """

    passed: bool

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:
        """IPython calls this instead of showing the value: show nothing."""


def run_check(
    path: Path,
    only: str | None = None,
    verbose: bool = False,
    out: TextIO | None = None,
    notebook: bool = False,
) -> tuple[GradingResult, str]:
    """Grade ``path`` with the public suites; returns the result and the printed report."""
    stream = out if out is not None else sys.stdout
    style = style_for(stream)
    live = interactive(stream)
    done = 0

    def status(text: str) -> None:
        stream.write(f"\r\033[K  {text}")
        stream.flush()

    def progress(outcome: TestOutcome, total: int) -> None:
        nonlocal done
        done += 1
        name = outcome.tags[0] if outcome.tags else outcome.name
        status(messages.CHECK_PROGRESS_TEST.format(done=done, total=total, name=name))

    if live:  # the first test result takes a second or two (imports, collection)
        status(messages.CHECK_PROGRESS.format(path=for_terminal(shown_path(path))))
    options = engine.Options(
        suites=("public",), only=only, verbose=verbose, progress=progress if live else None
    )
    result = engine.grade(path, options)
    if live:
        stream.write("\r\033[K")
    hide = quiet_notes(path, only)
    text = report(
        result, path, only=only, verbose=verbose, style=style, notebook=notebook, hide=hide
    )
    stream.write(text)
    stream.flush()
    return result, text


def report(
    result: GradingResult,
    path: Path,
    only: str | None = None,
    verbose: bool = False,
    style: Style = Style(color=False),
    notebook: bool = False,
    hide: Iterable[str] = (),
) -> str:
    """The report as text (pure: tests call it on a result). ``hide``: notes not to repeat."""
    what = (
        "every function"
        if only is None
        else f"`{only}.py`"
        if only in pack.active().by_module
        else f"`{only}`"
    )
    # What the submission and its code wrote (its path, notes, a failure's values, an error) is
    # shown with its control characters escaped: an instructor checks students' work too.
    header = messages.CHECK_HEADER.format(what=what, path=for_terminal(shown_path(path)))
    lines = [style.bold(header) + "\n"]
    if result.grader_error is not None:
        lines.append(style.bad(messages.CHECK_FAILED) + "\n")
        lines.append(for_terminal(result.grader_error, newlines=True))
        return "".join(lines)
    hidden_notes = set(hide)
    notes = [n for n in result.output.splitlines() if n.strip() and n not in hidden_notes]
    for note in notes:
        lines.append(_wrap(messages.CHECK_NOTE.format(note=for_terminal(note)), "", "      "))
    lines.append("\n")
    by_function = _group(result.tests)
    todo: list[str] = []
    for module, names in pack.active().by_module.items():
        rows = [(n, by_function[n]) for n in names if n in by_function]
        if not rows:
            continue
        lines.append(style.bold(f"{module}.py") + "\n")
        for name, tests in rows:
            got = sum(t.score for t in tests)
            avail = sum(t.max_score for t in tests)
            failed = [t for t in tests if t.status == "failed"]
            points = f"{got:g}/{avail:g}"
            if failed and not_implemented(name, tests):
                todo.append(name)
                row = f"  {style.todo('TODO')} {name:<24} {points:<6} {messages.CHECK_TODO}"
                lines.append(row + "\n")
                continue
            mark = style.good("ok  ") if not failed else style.bad("FAIL")
            lines.append(f"  {mark} {name:<24} {points}\n")
            for t in failed if verbose else failed[:1]:
                checked = style.dim(messages.CHECK_CHECKED.format(test=t.name))
                shown = for_terminal(t.output.strip(), newlines=True)
                lines.append(_indent(checked + "\n" + shown, 8))
            if failed and not verbose and len(failed) > 1:
                how = (
                    messages.CHECK_MORE_NOTEBOOK.format(name=name)
                    if notebook
                    else messages.CHECK_MORE_CLI
                )
                more = messages.CHECK_MORE.format(count=len(failed) - 1, how=how)
                lines.append(" " * 8 + style.dim(more) + "\n")
    passed = sum(t.status == "passed" for t in result.tests)
    total = messages.CHECK_TOTAL.format(
        got=result.score, avail=result.max_score, passed=passed, tests=len(result.tests)
    )
    lines.append("\n" + style.bold(total) + "\n")
    if todo:
        count = messages.CHECK_TODO_COUNT.format(count=len(todo), total=len(by_function))
        lines.append(count + "\n")
    elif result.tests and all(t.status != "failed" for t in result.tests):
        lines.append(style.good(messages.CHECK_ALL_PASSED) + "\n")
    lines.append("\n" + messages.CHECK_HIDDEN_INTRO + "\n")
    for module in _modules(only):
        hidden = pack.active().module(module).hidden
        if hidden:
            lines.append(_wrap(f"{module}.py: {hidden}", "  ", "    "))
    return "".join(lines)


def not_implemented(name: str, tests: Iterable[TestOutcome]) -> bool:
    """Every test of ``name`` that ran failed because it is not written yet (none passed)."""
    said = messages.NOT_IMPLEMENTED.format(name=name)
    ran = [t for t in tests if t.status != "skipped"]
    return bool(ran) and all(
        t.status == "failed" and t.output.strip().startswith(said) for t in ran
    )


def quiet_notes(path: Path, only: str | None) -> set[str]:
    """Intake notes that say nothing useful in a local check of ``path``: the assignment folder's
    own README, notebook and pytest.ini were "ignored", and, with ``only``, every note about a
    file other than the one being checked (a notebook checks each file as soon as it is written,
    before the later ones exist)."""
    from grader.grading.submission import SubmissionError, load_submission

    try:
        problems = load_submission(path).problems
    except (SubmissionError, OSError):
        return set()
    scope = None if only is None else f"{_modules(only)[0]}.py"
    quiet = set()
    for problem in problems:
        if problem.fatal:
            continue
        if problem.code == "ignored-file" and " more" not in problem.message:
            names = re.findall(r"`([^`]+)`", problem.message)
            if names and all(_companion(n) for n in names):
                quiet.add(problem.message)
        elif scope is not None and problem.file is not None and problem.file != scope:
            quiet.add(problem.message)
    return quiet


def _companion(name: str) -> bool:
    return name in COMPANIONS or name.startswith(COMPANION_FOLDERS)


def _modules(only: str | None) -> list[str]:
    if only is None:
        return list(pack.active().by_module)
    return [only] if only in pack.active().by_module else [pack.active().owner(only)]


def shown_path(path: Path) -> str:
    """``path`` as the student knows it: relative to where they are, else absolute."""
    resolved = path.resolve()
    slash = "/" if resolved.is_dir() else ""
    try:
        relative = resolved.relative_to(Path.cwd().resolve())
    except ValueError:
        return f"{resolved}{slash}"
    return f"{resolved}{slash}" if str(relative) == "." else f"{relative}{slash}"


def _group(tests: Iterable[TestOutcome]) -> dict[str, list[TestOutcome]]:
    out: dict[str, list[TestOutcome]] = {}
    for t in tests:
        out.setdefault(t.tags[0], []).append(t)
    return out


def _indent(text: str, n: int) -> str:
    pad = " " * n
    return "".join(pad + line + "\n" for line in text.splitlines())


def _wrap(text: str, first: str, rest: str) -> str:
    return textwrap.fill(text, WIDTH, initial_indent=first, subsequent_indent=rest) + "\n"


def passed(result: GradingResult) -> bool:
    return result.grader_error is None and all(t.status != "failed" for t in result.tests)


def check(name: str | None = None, path: str | Path = ".", verbose: bool = False) -> Checked:
    """From a notebook cell: check one function or module (or all) of the files in ``path``."""
    if not os.environ.get(pack.ENV) and (around := pack.find(Path(path))) is not None:
        pack.select(around)  # the notebook of a pack's assignment/: check with that pack
    if (
        name is not None
        and name not in pack.active().module_of
        and name not in pack.active().by_module
    ):
        hint = pack.did_you_mean(name, [*pack.active().module_of, *pack.active().by_module])
        raise ValueError(f"{name!r} is not part of the assignment{hint}")
    result, _ = run_check(Path(path), only=name, verbose=verbose, notebook=True)
    return Checked(passed(result))


def default_path() -> Path:
    return pack.active().assignment
