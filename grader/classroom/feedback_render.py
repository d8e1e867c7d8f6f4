"""A feedback page as HTML and as plain text, from one ``View`` (issue 27; the reading and the
visibility rules are ``grader.classroom.feedback_pages``).

The HTML stands alone: one file, its style inline, no script, no picture, no link out, so it
reads offline, attached to an LMS comment or printed (``@media print``). Long lines wrap (a
student's printed output, a wide array), so a phone-width window scrolls down, never sideways.
Every text that comes from a submission or a results.json (names, ids, test names, messages,
printed output) goes through ``html.escape``, as in the class report; the text version is the
same content, plain.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from grader import messages
from grader.classroom.gradebook import Student
from grader.classroom.report import STYLE

__all__ = ["Function", "Page", "Shown", "View", "index_html", "page_html", "page_text"]


@dataclass(frozen=True)
class Shown:
    """One test the student may see: only what Gradescope's page shows of it."""

    function: str
    name: str
    score: float
    max_score: float
    status: str  # passed / failed / skipped
    output: str


@dataclass(frozen=True)
class Function:
    """A graded function (a test's first tag) and its tests shown on the page."""

    name: str
    module: str
    score: float
    max_score: float
    tests: tuple[Shown, ...]

    @property
    def passed(self) -> int:
        return sum(t.status == "passed" for t in self.tests)

    @property
    def counted(self) -> int:
        return sum(t.status != "skipped" for t in self.tests)


@dataclass(frozen=True)
class View:
    """Everything one page says; nothing else reaches the HTML or the text."""

    title: str
    id: str
    students: tuple[str, ...]
    score: float | None  # None: the total is hidden (some test is `hidden`)
    max_score: float
    late_days: int
    late_taken: float | None
    late_marked: bool
    notes: tuple[str, ...]
    functions: tuple[Function, ...]
    unshown: int
    unshown_max: float
    unshown_score: float | None
    examined: tuple[tuple[str, str], ...]  # (module file, what its hidden tests examine)
    version: str
    missing: bool = False
    #: whether anything says when it was submitted (Gradescope's submission record, a Canvas
    #: download's LATE mark): without it the page says nothing of lateness, not "none"
    late_known: bool = False


@dataclass(frozen=True)
class Page:
    """One submission's feedback, ready to write or to attach (``feedback_pages.pages``)."""

    id: str
    students: tuple[Student, ...]
    stem: str  # a file name without suffix, safe on every file system
    html: str
    text: str
    score: float  # the gradebook's, for the instructor's index
    max_score: float
    problem: str = ""  # for the instructor: why the page lacks the tests (no results.json)


_PAGE_STYLE = """<style>
body { font-family: system-ui, sans-serif; line-height: 1.45; color: #222;
       max-width: 50em; margin: 1.5em auto; padding: 0 1em; }
h1, h2, h3, p, li, td, th { overflow-wrap: anywhere; }
h1 { font-size: 1.5em; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.3em; }
table.summary { border-collapse: collapse; }
table.summary td { padding: 0.15em 0; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f5f5f5;
      border-left: 3px solid #c44e52; padding: 0.5em 0.7em; margin: 0.3em 0 0.8em; }
.ok { color: #2e7d32; }
.fail { color: #b71c1c; }
.skip, .meta { color: #666; }
ul.tests { list-style: none; padding-left: 0.5em; }
@media print {
  body { max-width: none; margin: 0; color: #000; }
  pre { background: none; border: 1px solid #999; break-inside: avoid; }
  .function { break-inside: avoid-page; }
}
</style>"""


def _head(title: str, style: str) -> list[str]:
    return [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        style,
        "</head><body>",
    ]


def _summary(v: View) -> list[str]:
    """The lines at the top of a page: who, the score, the late penalty, the version."""
    lines = []
    if v.students:
        lines.append(messages.FEEDBACK_STUDENTS.format(names="; ".join(v.students)))
    lines.append(messages.FEEDBACK_SUBMISSION.format(id=v.id))
    if v.missing:
        pass  # FEEDBACK_MISSING follows: no score without the results it comes from
    elif v.score is None:
        lines.append(messages.FEEDBACK_SCORE_HIDDEN)
    else:
        lines.append(messages.FEEDBACK_SCORE.format(score=v.score, max_score=v.max_score))
    if v.late_days and v.late_taken is not None:
        lines.append(messages.FEEDBACK_LATE.format(taken=v.late_taken, days=v.late_days))
    elif v.late_days:
        lines.append(messages.FEEDBACK_LATE_DAYS.format(days=v.late_days))
    elif v.late_marked:
        lines.append(messages.FEEDBACK_LATE_MARKED)
    elif v.late_known:
        lines.append(messages.FEEDBACK_ON_TIME)
    if v.version:
        lines.append(messages.FEEDBACK_VERSION.format(version=v.version))
    return lines


def _function_line(f: Function) -> str:
    label = f"{f.name} ({f.module}.py)" if f.module else f.name
    return messages.FEEDBACK_FUNCTION.format(
        name=label, score=f.score, max_score=f.max_score, passed=f.passed, tests=f.counted
    )


def _unshown(v: View) -> list[str]:
    if not v.unshown:
        return [messages.FEEDBACK_ALL_SHOWN] if v.functions else []
    total = v.max_score
    lines = [
        messages.FEEDBACK_UNSHOWN.format(count=v.unshown, max_score=v.unshown_max, total=total)
    ]
    if v.unshown_score is not None:
        lines.append(messages.FEEDBACK_UNSHOWN_EARNED.format(score=v.unshown_score))
    return lines


def page_html(v: View) -> str:
    e = html.escape
    parts = _head(messages.FEEDBACK_TITLE.format(title=v.title), _PAGE_STYLE)
    parts.append(f"<h1>{e(messages.FEEDBACK_TITLE.format(title=v.title))}</h1>")
    parts.append('<table class="summary">')
    parts += [f"<tr><td>{e(line)}</td></tr>" for line in _summary(v)]
    parts.append("</table>")
    if v.missing:
        parts.append(f"<p>{e(messages.FEEDBACK_MISSING)}</p>")
    if v.notes:
        parts.append(f"<p>{e(messages.FEEDBACK_NOTES)}</p><ul>")
        parts += [f"<li>{e(note)}</li>" for note in v.notes]
        parts.append("</ul>")
    parts.append(f"<h2>{e(messages.FEEDBACK_FUNCTIONS)}</h2>")
    if not v.functions:
        parts.append(f"<p>{e(messages.FEEDBACK_NO_TESTS)}</p>")
    for f in v.functions:
        failed = [t for t in f.tests if t.status == "failed"]
        mark = ("fail", "\N{BALLOT X}") if failed else ("ok", "\N{CHECK MARK}")
        parts.append('<section class="function">')
        parts.append(f'<h3><span class="{mark[0]}">{mark[1]}</span> {e(_function_line(f))}</h3>')
        shown = [t for t in f.tests if t.status != "passed"]
        if shown:
            parts.append('<ul class="tests">')
        for t in shown:
            if t.status == "failed":
                what = messages.FEEDBACK_FAILED_TEST.format(
                    name=t.name, score=t.score, max_score=t.max_score
                )
                parts.append(f'<li><span class="fail">{e(what)}</span>')
            else:
                what = messages.FEEDBACK_SKIPPED_TEST.format(name=t.name)
                parts.append(f'<li><span class="skip">{e(what)}</span>')
            if t.output.strip():
                parts.append(f"<pre>{e(t.output.strip())}</pre>")
            parts.append("</li>")
        if shown:
            parts.append("</ul>")
        parts.append("</section>")
    parts.append(f"<h2>{e(messages.FEEDBACK_HIDDEN_HEADING)}</h2>")
    parts += [f"<p>{e(line)}</p>" for line in _unshown(v)]
    if v.examined:
        parts.append(f"<p>{e(messages.FEEDBACK_EXAMINED)}</p><ul>")
        parts += [f"<li><b>{e(file)}</b>: {e(text)}</li>" for file, text in v.examined]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def page_text(v: View) -> str:
    title = messages.FEEDBACK_TITLE.format(title=v.title)
    lines = [title, "=" * len(title), "", *_summary(v), ""]
    if v.missing:
        lines += [messages.FEEDBACK_MISSING, ""]
    if v.notes:
        lines += [messages.FEEDBACK_NOTES, *(f"  - {note}" for note in v.notes), ""]
    lines += [messages.FEEDBACK_FUNCTIONS, "-" * len(messages.FEEDBACK_FUNCTIONS)]
    if not v.functions:
        lines.append(messages.FEEDBACK_NO_TESTS)
    for f in v.functions:
        failed = any(t.status == "failed" for t in f.tests)
        lines.append(f"{'FAIL' if failed else 'ok  '} {_function_line(f)}")
        for t in f.tests:
            if t.status == "passed":
                continue
            what = (
                messages.FEEDBACK_FAILED_TEST.format(
                    name=t.name, score=t.score, max_score=t.max_score
                )
                if t.status == "failed"
                else messages.FEEDBACK_SKIPPED_TEST.format(name=t.name)
            )
            lines.append(f"     {what}")
            lines += [f"         {line}".rstrip() for line in t.output.strip().splitlines()]
    lines += ["", messages.FEEDBACK_HIDDEN_HEADING, "-" * len(messages.FEEDBACK_HIDDEN_HEADING)]
    lines += _unshown(v)
    if v.examined:
        lines += ["", messages.FEEDBACK_EXAMINED]
        lines += [f"  {file}: {text}" for file, text in v.examined]
    return "\n".join(lines) + "\n"


def index_html(rows: Sequence[Page], shown: Sequence[str]) -> str:
    """The instructor's page: every submission with its students, score and two links."""
    e = html.escape
    parts = _head(messages.FEEDBACK_INDEX_TITLE, STYLE)
    parts.append(f"<h1>{e(messages.FEEDBACK_INDEX_TITLE)}</h1>")
    parts.append(
        f"<p>{e(messages.FEEDBACK_INDEX_SHOWN.format(shown=', '.join(shown) or 'visible'))}</p>"
    )
    parts.append(
        "<table><tr><th>submission</th><th>students</th><th>score</th><th>page</th>"
        "<th>text</th><th>problem</th></tr>"
    )
    for r in rows:
        who = "; ".join(
            " ".join(x for x in (s.name, f"<{s.email}>" if s.email else "", s.sid) if x)
            for s in r.students
        )
        parts.append(
            f"<tr><td>{e(r.id)}</td><td>{e(who)}</td><td>{r.score:g} / {r.max_score:g}</td>"
            f'<td><a href="{e(r.stem)}.html">HTML</a></td>'
            f'<td><a href="{e(r.stem)}.txt">text</a></td><td>{e(r.problem)}</td></tr>'
        )
    parts.append("</table></body></html>")
    return "\n".join(parts) + "\n"
