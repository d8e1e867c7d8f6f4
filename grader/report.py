"""The class report: one HTML page with matplotlib pictures, read from a batch's gradebook.

    grader report DIR --out report.html

The PNGs are written next to the HTML (``<stem>-scores.png`` ...) and referenced by relative
path, so the folder can be zipped or copied to a web server as it is. Every text that comes from
a submission (ids, names, test names, bug hints) is HTML-escaped.
"""

from __future__ import annotations

import html
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.gradebook import Gradebook, Record

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
    """Write ``out`` (HTML) and its PNGs from ``batch_dir/gradebook.sqlite``; returns all paths."""
    book_path = batch_dir / "gradebook.sqlite"
    if not book_path.is_file():
        raise FileNotFoundError(f"{book_path}: no gradebook here (run `grader batch` first)")
    with Gradebook(book_path) as book:
        records = book.records()
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
    out.write_text(_page(records, shown), encoding="utf-8")
    return [out, *(out.parent / p.file for p in shown)]


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

_STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
img { max-width: 100%; }
figure { margin: 1.5em 0; }
figcaption, #images-status { color: #666; font-size: 0.9em; }
</style>"""


def _page(records: Sequence[Record], pictures: Sequence[Picture]) -> str:
    e = html.escape
    status = Counter(r.status for r in records)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Class report</title>",
        _STYLE,
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
    parts += ['<p id="images-status" data-ok="pending">images: not checked</p>', _IMAGE_CHECK]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
