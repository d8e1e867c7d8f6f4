"""The class report: one HTML page with matplotlib pictures, read from a batch's gradebook.

    grader report DIR --out report.html

The PNGs are written next to the HTML (``<stem>-scores.png`` ...) and referenced by relative
path, so the folder can be zipped or copied to a web server as it is. Every text that comes from
a submission (ids, names, test names, bug hints, code) is HTML-escaped.

Issue 14 added three sections: the pairs of submissions whose code is alike (when the batch ran
its similarity check), each opening a side-by-side page (``<stem>-pair-<k>.html``) with the
shared code marked, and the CSV of all pairs above the threshold next to it; what regrades
changed and which versions graded the gradebook; the limits suggested by the batch's data.
"""

from __future__ import annotations

import html
import shutil
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.classroom import limits, regrade, similarity
from grader.classroom.gradebook import Gradebook, Record

__all__ = ["write_report"]

#: How many known bugs and tests the bar charts show at most.
TOP_BUGS = 15
TOP_TESTS = 60


@dataclass(frozen=True)
class Picture:
    file: str
    title: str
    caption: str


def write_report(batch_dir: Path, out: Path) -> list[Path]:
    """Write ``out`` (HTML), its PNGs and its side-by-side pages from ``batch_dir``; returns all
    paths (the page first, then the pictures, then the rest)."""
    book_path = batch_dir / "gradebook.sqlite"
    if not book_path.is_file():
        raise FileNotFoundError(f"{book_path}: no gradebook here (run `grader batch` first)")
    with Gradebook(book_path) as book:
        records = book.records()
        regraded = regrade.from_gradebook(book)
    found = similarity.load(batch_dir)
    import matplotlib

    matplotlib.use("Agg")  # headless; never a window
    out.parent.mkdir(parents=True, exist_ok=True)
    pictures = [
        _score_histogram(records, out),
        _pass_rates(records, out, by="test"),
        _pass_rates(records, out, by="function"),
        _known_bugs(records, out),
        _times(records, out),
    ]
    shown = [p for p in pictures if p is not None]
    extra: list[Path] = []
    sections = [_regrade_section(regraded), _limits_section(limits.suggest(records))]
    if found is not None:
        pages = _pair_pages(found, records, out)
        table = batch_dir / similarity.FOLDER / "pairs.csv"
        if table.is_file():
            copy = out.parent / f"{out.stem}-similar-pairs.csv"
            shutil.copyfile(table, copy)
            pages.append(copy)
        sections.insert(0, _similarity_section(found, records, out))
        extra += pages
    out.write_text(_page(records, shown, sections), encoding="utf-8")
    return [out, *(out.parent / p.file for p in shown), *extra]


# -- pictures --------------------------------------------------------------------------------------


def _save(fig: Any, out: Path, name: str) -> str:
    import matplotlib.pyplot as plt

    file = f"{out.stem}-{name}.png"
    fig.tight_layout()
    fig.savefig(out.parent / file, dpi=100)
    plt.close(fig)
    return file


def _score_histogram(records: Sequence[Record], out: Path) -> Picture | None:
    import matplotlib.pyplot as plt

    graded = [r for r in records if r.status == "graded" and r.max_score > 0]
    if not graded:
        return None
    percents = [100 * r.score / r.max_score for r in graded]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(percents, bins=[i * 5 for i in range(21)], color="#4c72b0", edgecolor="white")
    ax.set_xlabel("score (% of the maximum)")
    ax.set_ylabel("submissions")
    ax.set_xlim(0, 100)
    caption = (
        f"{len(graded)} graded submissions; median {statistics.median(percents):.0f}%, "
        f"mean {statistics.fmean(percents):.0f}%"
    )
    return Picture(_save(fig, out, "scores"), "Scores", caption)


def _pass_rates(records: Sequence[Record], out: Path, by: str) -> Picture | None:
    import matplotlib.pyplot as plt

    passed: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for r in records:
        if r.status != "graded":
            continue
        for o in r.outcomes:
            if o.status == "skipped":
                continue
            keys = [f"{o.number} {o.name}"[:70]] if by == "test" else list(o.tags)
            for k in keys:
                seen[k] += 1
                passed[k] += o.status == "passed"
    if not seen:
        return None
    # The hardest first: what the class struggled with is what the instructor looks for.
    rates = sorted(((100 * passed[k] / seen[k], k) for k in seen), key=lambda x: (x[0], x[1]))
    rates = rates[:TOP_TESTS]
    fig, ax = plt.subplots(figsize=(8, 1 + 0.22 * len(rates)))
    ax.barh([k for _, k in rates], [v for v, _ in rates], color="#55a868")
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("submissions passing (%)")
    ax.tick_params(axis="y", labelsize=7 if by == "test" else 9)
    what = "test" if by == "test" else "function (test tags)"
    caption = f"pass rate per {what}, hardest first"
    if by == "test" and len(seen) > TOP_TESTS:
        caption += f" ({TOP_TESTS} hardest of {len(seen)})"
    name = "tests" if by == "test" else "functions"
    return Picture(_save(fig, out, name), f"Pass rate per {what}", caption)


def _known_bugs(records: Sequence[Record], out: Path) -> Picture | None:
    import matplotlib.pyplot as plt

    counts = _bug_counts(records)
    if not counts:
        return None
    top = counts.most_common(TOP_BUGS)
    fig, ax = plt.subplots(figsize=(8, 1 + 0.35 * len(top)))
    ax.barh([_short(k, 60) for k, _ in top], [n for _, n in top], color="#c44e52")
    ax.invert_yaxis()
    ax.set_xlabel("submissions")
    ax.tick_params(axis="y", labelsize=8)
    caption = "known bugs recognized by their fingerprints, counted once per submission"
    return Picture(_save(fig, out, "bugs"), "Most frequent known bugs", caption)


def _bug_counts(records: Sequence[Record]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for r in records:
        counts.update({o.fingerprint for o in r.outcomes if o.fingerprint})
    return counts


def _times(records: Sequence[Record], out: Path) -> Picture | None:
    import matplotlib.pyplot as plt

    if not records:
        return None
    seconds = [r.wall_seconds for r in records]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(seconds, bins=min(30, max(5, len(seconds) // 3)), color="#8172b2", edgecolor="white")
    ax.set_xlabel("wall seconds per submission")
    ax.set_ylabel("submissions")
    caption = (
        f"median {statistics.median(seconds):.1f} s, slowest {max(seconds):.1f} s "
        f"(includes time-outs)"
    )
    return Picture(_save(fig, out, "times"), "Time per submission", caption)


def _short(text: str, n: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= n else line[: n - 1] + "…"


# -- the page --------------------------------------------------------------------------------------

#: Marks the page once every picture has loaded (the browser test reads it from the DOM).
_IMAGE_CHECK = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var mark = document.getElementById("images-status");
  mark.textContent = "images loaded: " + ok + "/" + imgs.length;
  mark.setAttribute("data-ok", ok === imgs.length ? "yes" : "no");
});
</script>"""

STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
img { max-width: 100%; }
figure { margin: 1.5em 0; }
figcaption, #images-status { color: #666; font-size: 0.9em; }
.notice { background: #eef4fb; padding: 0.5em 0.8em; }
.warning { background: #fff3cd; padding: 0.5em 0.8em; }
body.pair { max-width: none; margin: 1em; }
table.side { width: 100%; table-layout: fixed; }
table.side pre { white-space: pre-wrap; font-size: 0.85em; margin: 0; }
mark { background: #ffd54f; }
</style>"""


# -- the sections of issue 14: similarity, regrades, limits ---------------------------------------


def _who(records: Mapping[str, Record], sub_id: str) -> str:
    rec = records.get(sub_id)
    names = "; ".join(s.name or s.email for s in rec.students) if rec is not None else ""
    return f"{sub_id} ({names})" if names else sub_id


def _pair_file(out: Path, rank: int) -> str:
    return f"{out.stem}-pair-{rank}.html"


def _similarity_section(
    found: similarity.Similarity, records: Sequence[Record], out: Path
) -> list[str]:
    e = html.escape
    by_id = {r.id: r for r in records}
    parts = [
        '<h2 id="similarity">Similar code</h2>',
        f'<p class="notice">{e(similarity.NOTICE)}</p>',
        f"<p>{found.compared} of {found.submissions} submissions have code of their own to"
        f" compare; {len(found.above())} at or above {found.threshold:.0%}"
        f' (<a href="{e(out.stem)}-similar-pairs.csv">all of them, CSV</a>).</p>',
    ]
    if not found.pairs:
        return [*parts, "<p>No two submissions share code beyond the starter code.</p>"]
    parts.append(
        "<table><tr><th>#</th><th>score</th><th>submission</th><th>share in the other</th>"
        "<th>submission</th><th>share in the other</th><th>modules</th></tr>"
    )
    for rank, p in enumerate(found.pairs[: similarity.TOP], 1):
        modules = ", ".join(s.module for s in p.shared)
        parts.append(
            f'<tr><td>{rank}</td><td><a href="{e(_pair_file(out, rank))}">{p.score:.0%}</a></td>'
            f"<td>{e(_who(by_id, p.a))}</td><td>{p.a_share:.0%}</td>"
            f"<td>{e(_who(by_id, p.b))}</td><td>{p.b_share:.0%}</td><td>{e(modules)}</td></tr>"
        )
    parts.append("</table>")
    return parts


def _pair_pages(found: similarity.Similarity, records: Sequence[Record], out: Path) -> list[Path]:
    """One page per top pair: both submissions side by side, the shared code marked."""
    e = html.escape
    by_id = {r.id: r for r in records}
    written = []
    for rank, p in enumerate(found.pairs[: similarity.TOP], 1):
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>Similar pair {rank}: {e(p.a)} and {e(p.b)}</title>",
            STYLE,
            '</head><body class="pair">',
            f"<h1>Pair {rank}: {p.score:.0%} alike</h1>",
            f'<p class="notice">{e(similarity.NOTICE)}</p>',
            f'<p><a href="{e(out.name)}#similarity">back to the class report</a></p>',
        ]
        for shared in p.shared:
            a = found.sources.get(p.a, {}).get(shared.module, "")
            b = found.sources.get(p.b, {}).get(shared.module, "")
            parts += [
                f"<h2>{e(shared.module)}</h2>",
                '<table class="side"><tr>',
                f"<th>{e(_who(by_id, p.a))}: {p.a_share:.0%} of its own code is in the other</th>",
                f"<th>{e(_who(by_id, p.b))}: {p.b_share:.0%} of its own code is in the other</th>",
                "</tr><tr>",
                f"<td><pre>{similarity.marked(a, shared.a)}</pre></td>",
                f"<td><pre>{similarity.marked(b, shared.b)}</pre></td>",
                "</tr></table>",
            ]
        parts.append("</body></html>")
        page = out.parent / _pair_file(out, rank)
        page.write_text("\n".join(parts) + "\n", encoding="utf-8")
        written.append(page)
    return written


def _regrade_section(r: regrade.Regrade) -> list[str]:
    e = html.escape
    parts = ['<h2 id="regrades">Regrades and versions</h2>']
    if r.current is not None:
        parts.append(f"<p>The latest batch graded with {e(r.current.short())}.</p>")
    if r.mixed:
        parts.append(
            f'<p class="warning">This gradebook mixes {len(r.versions)} versions of the suites'
            " or of the grader:</p><table><tr><th>version</th><th>submissions</th></tr>"
        )
        parts += [f"<tr><td>{e(v.short())}</td><td>{n}</td></tr>" for v, n in r.versions]
        parts.append("</table>")
    if r.stale:
        ids = ", ".join(r.stale)
        parts.append(
            f"<p>Graded by another version than the current one and not yet graded again"
            f" ({len(r.stale)}; <code>grader regrade</code> grades them): {e(ids)}</p>"
        )
    if not (r.graded_again or r.resubmitted):
        return [*parts, "<p>No submission has been graded more than once.</p>"]
    parts.append(
        f"<p>Graded again: {r.graded_again} submissions (and {r.resubmitted} resubmitted);"
        f" {len(r.changes)} changed score. Each against the grading before it:</p>"
    )
    if r.changes:
        parts.append(
            "<table><tr><th>submission</th><th>before</th><th>after</th><th>change</th>"
            "<th>why</th><th>tests that moved</th></tr>"
        )
        for c in r.changes[:100]:
            tests = "<br>".join(
                e(f"{t.number} {t.name}: {_score(t.old)} -> {_score(t.new)}") for t in c.tests
            )
            who = f"{c.id} ({c.students})" if c.students else c.id
            parts.append(
                f"<tr><td>{e(who)}</td><td>{c.old:g}</td><td>{c.new:g}</td>"
                f"<td>{c.delta:+g}</td><td>{e(c.reason)}</td><td>{tests}</td></tr>"
            )
        parts.append("</table>")
    return parts


def _score(x: float | None) -> str:
    return "absent" if x is None else f"{x:g}"


def _limits_section(report: limits.LimitReport) -> list[str]:
    e = html.escape
    parts = [
        '<h2 id="limits">Limits from this batch</h2>',
        "<table><tr><th>limit</th><th>now</th><th>students it cut off</th><th>suggested</th>"
        "<th>students it would cut off</th><th>from</th></tr>",
    ]
    for s in (report.timeout, report.memory):
        parts.append(
            f"<tr><td>{e(s.what)}</td><td>{s.current:g} {s.unit}</td>"
            f"<td>{s.cut_now} of {s.students} ({s.share(s.cut_now):.1%})</td>"
            f"<td>{s.suggested:g} {s.unit}</td>"
            f"<td>{s.cut_suggested} of {s.students} ({s.share(s.cut_suggested):.1%})</td>"
            f"<td>{e(s.basis)}</td></tr>"
        )
    parts.append("</table>")
    if report.slowest:
        parts.append(
            "<h3>Slowest tests for students</h3><table><tr><th>test</th><th>median s</th>"
            "<th>p90 s</th><th>slowest s</th><th>stopped by the timeout</th></tr>"
        )
        parts += [
            f"<tr><td>{e(t.number)} {e(t.name)}</td><td>{t.median:.3f}</td><td>{t.p90:.3f}</td>"
            f"<td>{t.slowest:.3f}</td><td>{t.timeouts}</td></tr>"
            for t in report.slowest
        ]
        parts.append("</table>")
    return parts


def _page(
    records: Sequence[Record], pictures: Sequence[Picture], sections: Sequence[list[str]] = ()
) -> str:
    e = html.escape
    status = Counter(r.status for r in records)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Class report</title>",
        STYLE,
        "</head><body>",
        "<h1>Class report</h1>",
        "<table>",
        f"<tr><th>submissions</th><td>{len(records)}</td></tr>",
        *(
            f"<tr><th>{e(s)}</th><td>{status.get(s, 0)}</td></tr>"
            for s in ("graded", "timed out", "grader error")
        ),
        "</table>",
    ]
    for p in pictures:
        parts += [
            f"<figure><h2>{e(p.title)}</h2>",
            f'<img src="{e(p.file)}" alt="{e(p.title)}">',
            f"<figcaption>{e(p.caption)}</figcaption></figure>",
        ]
    bugs = _bug_counts(records).most_common(TOP_BUGS)
    if bugs:
        parts += ["<h2>Known bugs</h2>", "<table><tr><th>submissions</th><th>hint</th></tr>"]
        parts += [f"<tr><td>{n}</td><td>{e(k)}</td></tr>" for k, n in bugs]
        parts.append("</table>")
    problems = [r for r in records if r.status != "graded"]
    parts.append("<h2>Submissions that timed out or crashed</h2>")
    if problems:
        parts.append("<table><tr><th>submission</th><th>students</th><th>status</th>")
        parts.append("<th>seconds</th><th>what happened</th></tr>")
        for r in problems:
            who = "; ".join(s.name or s.email for s in r.students)
            parts.append(
                f"<tr><td>{e(r.id)}</td><td>{e(who)}</td><td>{e(r.status)}</td>"
                f"<td>{r.wall_seconds:.1f}</td><td><pre>{e(r.error[-2000:])}</pre></td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>None.</p>")
    for section in sections:
        parts += section
    parts += ['<p id="images-status" data-ok="pending">images: not checked</p>', _IMAGE_CHECK]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
