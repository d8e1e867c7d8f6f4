"""A feedback page for every student of a batch: what each reads, as HTML and as plain text.

    grader feedback DIR --out FOLDER [--show after_due_date] [--show after_published]

Issue 27, item 1. A batch keeps, per submission, a gradebook row (who, the score, the version
that graded it) and ``results/<id>.json`` (Gradescope's format: each test's student message and
visibility). A student graded on Gradescope reads the latter on Gradescope's page; a student
graded by ``grader batch`` reads this page instead, and it shows exactly what Gradescope would
(contract 10, docs/GRADESCOPE.md):

* a test is shown when its visibility is ``visible``, or one the instructor names (``show``:
  ``after_due_date`` once the due date has passed, ``after_published`` once grades are out);
  ``hidden`` never. The total is shown only when no test is ``hidden`` (Gradescope hides it
  then), and each function's line counts only the tests shown;
* what the page takes from a test is its name, points, status and student message (the input,
  expected, got and hint of a public failure; the name and the hidden message of a hidden one).
  ``extra_data`` (node ids, tracebacks, fingerprints, the submission's metadata), the gradebook's
  staff error and any path of the grader are never read into a page, so none can land there.
  The one fact taken from ``extra_data`` is numeric: the late penalty that
  ``grader.classroom.policies`` recorded (days late, the fraction taken); an LMS's late mark
  comes from the gradebook (``Student.late``);
* the tests not shown are summed into one line (how many, their points, and what the student
  earned in them when the total is shown, which reveals no more than the total does), followed
  by the pack's sentence per module of what the hidden tests examine.

The API (``grader.classroom.lms`` attaches these files to its bulk archives):

``pages(batch_dir, show=()) -> Iterator[Page]``
    One ``Page`` per gradebook row, in id order, reading the gradebook once. ``batch_dir`` is
    the ``--out`` folder of ``grader batch``; ``show`` names the visibilities to reveal beyond
    ``visible``. A row whose results.json is missing or unreadable still gets a page, which
    says so (``Page.problem`` holds the instructor's note).
``page_for(batch_dir, submission_id, show=()) -> Page``
    The page of one submission; ``KeyError`` when the gradebook has no such row.
``write_pages(batch_dir, out, show=()) -> Written``
    Every page as ``out/<stem>.html`` and ``out/<stem>.txt``, and the instructor's
    ``out/index.html`` linking them all.
``Page``
    ``id`` (the gradebook's), ``students`` (``gradebook.Student``: name, email, sid), ``stem``
    (a file name without suffix, safe on every file system), ``html`` and ``text`` (str),
    ``score`` / ``max_score`` (the gradebook's, for the instructor), ``problem``.

Raises ``FileNotFoundError`` when ``batch_dir`` holds no gradebook and ``ValueError`` for an
unknown visibility in ``show``, or when the active pack did not grade the batch (its pages
would describe another assignment). Every sentence comes from ``grader.messages``; the HTML and the
text are built by ``grader.classroom.feedback_render`` from one ``View``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import messages
from grader.authoring import pack
from grader.classroom import feedback_render
from grader.classroom.feedback_render import Function, Page, Shown, View
from grader.classroom.gradebook import Gradebook, Record, Run
from grader.grading.results_json import effective_visibility

__all__ = ["REVEALABLE", "Page", "Written", "page_for", "pages", "write_pages"]

#: The visibilities an instructor may reveal; ``visible`` is always shown, ``hidden`` never.
REVEALABLE = ("after_due_date", "after_published")
INDEX = "index.html"
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")


@dataclass(frozen=True)
class Written:
    """What ``write_pages`` wrote: the index, and the page files (HTML and text) per id."""

    index: Path
    files: dict[str, tuple[Path, Path]]
    problems: dict[str, str]


def pages(batch_dir: Path, show: Collection[str] = ()) -> Iterator[Page]:
    """One page per submission of the batch in ``batch_dir`` (see the module's docstring)."""
    revealed = _revealed(show)
    for rec in _records(batch_dir):
        yield _page(batch_dir, rec, revealed)


def page_for(batch_dir: Path, submission_id: str, show: Collection[str] = ()) -> Page:
    """The page of one submission; ``KeyError`` if the gradebook has no row ``submission_id``."""
    revealed = _revealed(show)
    for rec in _records(batch_dir):
        if rec.id == submission_id:
            return _page(batch_dir, rec, revealed)
    raise KeyError(submission_id)


def write_pages(batch_dir: Path, out: Path, show: Collection[str] = ()) -> Written:
    """Write every page (``<stem>.html``, ``<stem>.txt``) and ``index.html`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, tuple[Path, Path]] = {}
    problems: dict[str, str] = {}
    rows: list[Page] = []  # without their html and text: a MOOC's pages need not fit in memory
    for page in pages(batch_dir, show):
        html_file, text_file = out / f"{page.stem}.html", out / f"{page.stem}.txt"
        html_file.write_text(page.html, encoding="utf-8")
        text_file.write_text(page.text, encoding="utf-8")
        files[page.id] = (html_file, text_file)
        if page.problem:
            problems[page.id] = page.problem
        rows.append(dataclasses.replace(page, html="", text=""))
    index = out / INDEX
    index.write_text(feedback_render.index_html(rows, sorted(_revealed(show))), encoding="utf-8")
    return Written(index, files, problems)


# -- reading a batch ------------------------------------------------------------------------------


def _revealed(show: Collection[str]) -> frozenset[str]:
    unknown = sorted(set(show) - set(REVEALABLE))
    if unknown:
        raise ValueError(
            messages.FEEDBACK_BAD_SHOW.format(value=", ".join(unknown), known=", ".join(REVEALABLE))
        )
    return frozenset({"visible", *show})


def _records(batch_dir: Path) -> list[Record]:
    book_path = batch_dir / "gradebook.sqlite"
    if not book_path.is_file():
        raise FileNotFoundError(messages.FEEDBACK_NO_GRADEBOOK.format(path=book_path))
    with Gradebook(book_path) as book:
        _check_pack(book.runs(), batch_dir)
        return book.records()


def _check_pack(runs: list[Run], batch_dir: Path) -> None:
    """Refuse a batch the active pack did not grade: each page's title, functions and "what
    the hidden tests examined" come from the active pack, so ``grader feedback hw3/`` run
    outside hw3's pack folder would tell hw3's students about another assignment. A run row
    keeps the suite digest it graded with and its options; the active pack must give one of
    them again. A gradebook with no run (written by hand, as tests do) is not checked."""
    if not runs:
        return
    from grader.grading import version

    digests: dict[str, str] = {}
    for run in runs:
        key = json.dumps(run.options, sort_keys=True)
        if key not in digests:
            digests[key] = version.suite_digest(run.options)
        if digests[key] == run.version.suite_digest:
            return
    active = pack.active()
    raise ValueError(
        messages.FEEDBACK_OTHER_PACK.format(dir=batch_dir, pack=active.name, root=active.root)
    )


def stem_of(sub_id: str) -> str:
    """A file name for ``sub_id``'s page: the id when plain (as batch ids are), else a plain
    form plus a hash, so that two ids never share a file and none leaves the folder."""
    if _PLAIN.fullmatch(sub_id) and sub_id != INDEX.removesuffix(".html"):
        return sub_id
    plain = re.sub(r"[^A-Za-z0-9._@+-]+", "_", sub_id).strip("._")[:64] or "submission"
    return f"{plain}-{hashlib.sha256(sub_id.encode()).hexdigest()[:8]}"


def _page(batch_dir: Path, rec: Record, revealed: frozenset[str]) -> Page:
    path = batch_dir / "results" / f"{rec.id}.json"
    problem = ""
    results: Mapping[str, Any] = {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(loaded, dict):
            raise ValueError("not a JSON object")
        results = loaded
    except (OSError, ValueError) as exc:
        problem = messages.FEEDBACK_NO_RESULTS.format(
            file=f"results/{rec.id}.json", error=type(exc).__name__
        )
    view = build_view(rec, results, revealed, missing=bool(problem))
    return Page(
        id=rec.id,
        students=rec.students,
        stem=stem_of(rec.id),
        html=feedback_render.page_html(view),
        text=feedback_render.page_text(view),
        score=rec.score,
        max_score=rec.max_score,
        problem=problem,
    )


# -- what a student sees ---------------------------------------------------------------------------


def build_view(
    rec: Record, results: Mapping[str, Any], revealed: frozenset[str], missing: bool = False
) -> View:
    """What the student of ``rec`` may read in ``results`` (a results.json dict), pure."""
    tests = [t for t in results.get("tests") or [] if isinstance(t, dict)]
    shown: list[Shown] = []
    unshown: list[Mapping[str, Any]] = []
    for t in tests:
        if effective_visibility(results, t) in revealed:
            shown.append(_shown(t))
        elif _number(t.get("max_score")) > 0:  # not the staff's 0-point grader-error entry
            unshown.append(t)
    # Gradescope hides the total when any test is hidden; with no results there is no total
    total_shown = not missing and not any(
        effective_visibility(results, t) == "hidden" for t in tests
    )
    all_max = sum(_number(t.get("max_score")) for t in tests)
    score = _number(results.get("score"))
    # what the hidden tests examine, for the modules this grading graded only: a grading with no
    # test (a time-out) examined nothing, and listing every module would say it did
    graded = {pack.active().module_of.get(str(tag)) for t in tests for tag in t.get("tags") or []}
    modules = [m for m in pack.active().modules if m.name in graded]
    late_days, late_taken = _late(results)
    return View(
        title=pack.active().title,
        id=rec.id,
        students=tuple(s.name or s.email or s.sid for s in rec.students),
        score=round(score, 6) if total_shown else None,
        max_score=round(all_max, 6),
        late_days=late_days,
        late_taken=late_taken,
        # the LMS's own late mark (``Student.late``, read from its download by the batch)
        late_marked=any(s.late for s in rec.students),
        notes=tuple(line for line in str(results.get("output") or "").splitlines() if line.strip()),
        functions=_functions(shown),
        unshown=len(unshown),
        unshown_max=round(sum(_number(t.get("max_score")) for t in unshown), 6),
        unshown_score=(
            round(sum(_number(t.get("score")) for t in unshown), 6) if total_shown else None
        ),
        examined=tuple((m.file, m.hidden) for m in modules if m.hidden),
        version=rec.version.short() if rec.suite_digest else "",
        missing=missing,
        late_known=_late_known(results, rec),
    )


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _late(results: Mapping[str, Any]) -> tuple[int, float | None]:
    """Days late and the fraction the penalty took, as ``policies.apply`` records them."""
    extra = results.get("extra_data")
    record = extra.get("submission") if isinstance(extra, dict) else None
    if not isinstance(record, dict):
        return 0, None
    days = record.get("days_late")
    taken = record.get("late_penalty")
    days = days if isinstance(days, int) and not isinstance(days, bool) and days > 0 else 0
    return days, (float(taken) if days and isinstance(taken, (int, float)) else None)


def _late_known(results: Mapping[str, Any], rec: Record) -> bool:
    """Whether on time can be said: Gradescope's policy recorded the submission, or a Canvas
    download (which marks LATE) named the students. Moodle's download and a plain folder say
    nothing of when a file came in."""
    extra = results.get("extra_data")
    recorded = isinstance(extra, dict) and isinstance(extra.get("submission"), dict)
    return recorded or any(s.lms_id.startswith("canvas:") for s in rec.students)


def _shown(t: Mapping[str, Any]) -> Shown:
    tags = [str(x) for x in t.get("tags") or [] if isinstance(x, str)]
    status = t.get("status")
    return Shown(
        function=tags[0] if tags else "",
        name=str(t.get("name") or ""),
        score=_number(t.get("score")),
        max_score=_number(t.get("max_score")),
        status=status if status in ("passed", "failed") else "skipped",
        output=str(t.get("output") or ""),
    )


def _functions(shown: list[Shown]) -> tuple[Function, ...]:
    """The shown tests grouped by the function they grade, in the manifest's order."""
    groups: dict[str, list[Shown]] = {}
    for s in shown:
        groups.setdefault(s.function, []).append(s)
    order = {name: i for i, name in enumerate(pack.active().module_of)}
    names = sorted(groups, key=lambda n: (order.get(n, len(order)), n))
    return tuple(
        Function(
            name=n,
            module=pack.active().module_of.get(n, ""),
            score=round(sum(s.score for s in groups[n]), 6),
            max_score=round(sum(s.max_score for s in groups[n]), 6),
            tests=tuple(groups[n]),
        )
        for n in names
    )
