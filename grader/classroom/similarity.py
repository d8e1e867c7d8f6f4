"""Pairs of submissions whose code is suspiciously alike (issue 14, item 1).

It ranks pairs for a person to look at; it never changes a score, and every place it is shown
says so. The fingerprints and their comparison are copydetect's (MIT; winnowing as in MOSS):
each module is tokenized by Pygments, with every variable, function and class name and every
string replaced by one letter, so renaming does not hide a copy, and k-grams of tokens are
fingerprinted, so reordering functions does not either. What we add around it:

* *starter code excluded*: every k-gram of the stubs (``assignment/*.py``, which are also the
  notebook's ``%%writefile`` cells) and of the notebook's other given cells is boilerplate, so
  the template does not make everyone alike;
* *code common to the class excluded*: a fingerprint found in more than ``COMMON_SHARE`` of the
  submissions (at least ``COMMON_MIN``, at most ``COMMON_MAX`` of them) is an idiom, not a copy,
  as with MOSS's ``-m``;
* *candidates, not all pairs*: an inverted index of the remaining fingerprints finds the pairs
  that share any, and only those are compared (30,000 submissions are 450 million pairs);
* *modules matched by name*: ``layers.py`` against ``layers.py``; a pair's share is, on each
  side, the fraction of that submission's own fingerprinted code found in the other.

The notebook is no special case: ``grader.grading.submission`` turns a notebook into the same module
sources as a folder or a zip, so a notebook and a folder are compared as equals.
"""

from __future__ import annotations

import html
import io
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from grader.authoring import pack
from grader.safe_text import csv_writer

__all__ = [
    "DEFAULT_THRESHOLD",
    "NOTICE",
    "Pair",
    "Similarity",
    "check",
    "lines",
    "load",
    "marked",
    "write",
]

#: copydetect's noise threshold: matches shorter than this many filtered characters are noise.
NOISE: Final = 25
#: copydetect's guarantee threshold: any match this long is found. Equal to ``NOISE``, winnowing
#: keeps every k-gram: its choice of k-grams follows Python's ``hash()``, which is salted per
#: process, so a larger window made the shares vary between runs (0.19 or 0.25 for one pair).
GUARANTEE: Final = NOISE
#: A pair at or above this share (of either side's own code) goes to the CSV.
DEFAULT_THRESHOLD: Final = 0.5
#: Pairs whose side-by-side view the report shows.
TOP: Final = 20
#: A k-gram in more than this share of the submissions is common code; the threshold is kept
#: between COMMON_MIN and COMMON_MAX submissions (the top bounds the pairs one k-gram makes).
COMMON_SHARE: Final = 0.1
COMMON_MIN: Final = 10
COMMON_MAX: Final = 100
#: Where a batch writes it, under its --out folder.
FOLDER: Final = "similarity"
NOTICE: Final = (
    "This ranks pairs of submissions for a person to look at; it changes no score. Code from "
    "the starter files, and code common to much of the class, is not counted."
)


@dataclass(frozen=True)
class Shared:
    """One module of a pair: the character ranges of each side's source found in the other."""

    module: str
    a: tuple[tuple[int, int], ...]
    b: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    a_share: float  # the fraction of a's own code (starter and common code aside) found in b
    b_share: float
    shared: tuple[Shared, ...]

    @property
    def score(self) -> float:
        return max(self.a_share, self.b_share)


@dataclass(frozen=True)
class Similarity:
    submissions: int
    compared: int  # submissions with code of their own beyond the starter code
    pairs: tuple[Pair, ...]  # every pair sharing any code, the most alike first
    threshold: float = DEFAULT_THRESHOLD
    unreadable: tuple[str, ...] = ()
    #: the module sources of the submissions in the first ``TOP`` pairs (the side-by-side view)
    sources: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def above(self) -> list[Pair]:
        return [p for p in self.pairs if p.score >= self.threshold]


def check(
    submissions: Mapping[str, Path],
    starter: Path | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> Similarity:
    """Compare every submission (``{id: folder, zip or notebook}``) with every other one."""
    from grader.grading.submission import SubmissionError, load_submission

    sources: dict[str, dict[str, str]] = {}
    unreadable = []
    for sub_id, path in sorted(submissions.items()):
        try:
            sub = load_submission(path)
        except SubmissionError:
            unreadable.append(sub_id)
            continue
        sources[sub_id] = {name: text for name, text in sub.sources.items() if name.endswith(".py")}
    starter = pack.active().assignment if starter is None else starter
    return compare(sources, starter_sources(starter), threshold, tuple(unreadable))


def starter_sources(starter: Path) -> list[str]:
    """The starter code: the stubs, and every code cell of the notebooks handed out."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(starter.glob("*.py"))]
    for nb in sorted(starter.glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8")).get("cells", [])
        for cell in cells:
            if cell.get("cell_type") == "code":
                source = cell.get("source", "")
                texts.append("".join(source) if isinstance(source, list) else str(source))
    return texts


def compare(
    sources: Mapping[str, Mapping[str, str]],
    starter: Sequence[str],
    threshold: float = DEFAULT_THRESHOLD,
    unreadable: tuple[str, ...] = (),
) -> Similarity:
    """The pairs of ``{id: {module file: source}}``, ``starter`` texts excluded."""
    import numpy as np
    from copydetect import CodeFingerprint, compare_files
    from copydetect.utils import get_token_coverage

    def fingerprint(text: str, window: int, boilerplate: Any = None) -> Any:
        # The text is never read from disk; the file name is only shown in copydetect's reports.
        return CodeFingerprint(
            "module.py", NOISE, window, boilerplate, language="python", fp=io.StringIO(text)
        )

    boilerplate = np.unique(
        np.array([h for text in starter for h in fingerprint(text, 1).hashes], dtype=np.int64)
    )
    prints = {
        sub_id: {
            m: fingerprint(text, GUARANTEE - NOISE + 1, boilerplate) for m, text in mods.items()
        }
        for sub_id, mods in sources.items()
    }
    # Fingerprints in much of the class are idioms, dropped like the starter code.
    seen: Counter[int] = Counter()
    for mods in prints.values():
        seen.update({h for fp in mods.values() for h in fp.hashes})
    most = min(max(COMMON_MIN, COMMON_SHARE * len(prints)), COMMON_MAX)
    common = {h for h, n in seen.items() if n > most}
    for mods in prints.values():
        for fp in mods.values():
            if common & fp.hashes:
                fp.hashes = fp.hashes - common
                fp.hash_idx = {h: i for h, i in fp.hash_idx.items() if h not in common}
                fp.token_coverage = get_token_coverage(fp.hash_idx, NOISE, len(fp.filtered_code))
    own = {sub_id for sub_id, mods in prints.items() if any(fp.hashes for fp in mods.values())}

    index: defaultdict[tuple[str, int], list[str]] = defaultdict(list)
    for sub_id in sorted(own):
        for module, fp in prints[sub_id].items():
            for h in fp.hashes:
                index[(module, h)].append(sub_id)
    candidates = {(a, b) for ids in index.values() for i, a in enumerate(ids) for b in ids[i + 1 :]}

    pairs = []
    for a, b in sorted(candidates):
        overlap = [0.0, 0.0]
        coverage = [0.0, 0.0]
        shared = []
        for module in sorted(prints[a].keys() | prints[b].keys()):
            fa, fb = prints[a].get(module), prints[b].get(module)
            coverage[0] += fa.token_coverage if fa is not None else 0
            coverage[1] += fb.token_coverage if fb is not None else 0
            if fa is None or fb is None or not (fa.hashes & fb.hashes):
                continue
            _, (sim_a, sim_b), (slices_a, slices_b) = compare_files(fa, fb)
            overlap[0] += sim_a * fa.token_coverage
            overlap[1] += sim_b * fb.token_coverage
            if len(slices_a) and len(slices_a[0]):
                shared.append(Shared(module, _ranges(slices_a), _ranges(slices_b)))
        a_share = float(overlap[0] / coverage[0]) if coverage[0] else 0.0
        b_share = float(overlap[1] / coverage[1]) if coverage[1] else 0.0
        if shared:
            pairs.append(Pair(a, b, round(a_share, 4), round(b_share, 4), tuple(shared)))
    pairs.sort(key=lambda p: (-p.score, -min(p.a_share, p.b_share), p.a, p.b))
    shown = {sub_id for p in pairs[:TOP] for sub_id in (p.a, p.b)}
    return Similarity(
        submissions=len(sources) + len(unreadable),
        compared=len(own),
        pairs=tuple(pairs),
        threshold=threshold,
        unreadable=unreadable,
        sources={sub_id: dict(sources[sub_id]) for sub_id in sorted(shown)},
    )


def _ranges(slices: Any) -> tuple[tuple[int, int], ...]:
    """copydetect's 2 x N array of slice starts and ends as merged, sorted (start, end) pairs."""
    merged: list[list[int]] = []
    starts, ends = (int(x) for x in slices[0]), (int(x) for x in slices[1])
    for start, end in sorted(zip(starts, ends, strict=True)):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((s, e) for s, e in merged)


# -- the files a batch writes, read back by the report -------------------------------------------

CSV_COLUMNS = ("rank", "a", "b", "score", "share of a in b", "share of b in a", "modules")


def write(found: Similarity, batch_dir: Path) -> list[Path]:
    """``similarity/pairs.csv`` (every pair at or above the threshold) and ``top.json``."""
    folder = batch_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    table = folder / "pairs.csv"
    with table.open("w", newline="", encoding="utf-8") as fh:
        w = csv_writer(fh)  # submission ids are student text; shares stay numbers (issue 29)
        w.writerow(CSV_COLUMNS)
        for rank, p in enumerate(found.above(), 1):
            modules = " ".join(s.module for s in p.shared)
            shares = (round(x, 3) for x in (p.score, p.a_share, p.b_share))
            w.writerow([rank, p.a, p.b, *shares, modules])
    top = folder / "top.json"
    data = {
        "notice": NOTICE,
        "submissions": found.submissions,
        "compared": found.compared,
        "threshold": found.threshold,
        "pairs_sharing_code": len(found.pairs),
        "pairs_above_threshold": len(found.above()),
        "unreadable": list(found.unreadable),
        "pairs": [_pair_json(p) for p in found.pairs[:TOP]],
        "sources": found.sources,
    }
    top.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return [table, top]


def _pair_json(p: Pair) -> dict[str, Any]:
    return {
        "a": p.a,
        "b": p.b,
        "a_share": p.a_share,
        "b_share": p.b_share,
        "shared": [{"module": s.module, "a": s.a, "b": s.b} for s in p.shared],
    }


def written(batch_dir: Path) -> bool:
    return (batch_dir / FOLDER / "top.json").is_file()


def load(batch_dir: Path) -> Similarity | None:
    """What ``write`` wrote (the top pairs only), or None where no check was written."""
    path = batch_dir / FOLDER / "top.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    pairs = tuple(
        Pair(
            p["a"],
            p["b"],
            p["a_share"],
            p["b_share"],
            tuple(Shared(s["module"], _pairs_of(s["a"]), _pairs_of(s["b"])) for s in p["shared"]),
        )
        for p in data["pairs"]
    )
    return Similarity(
        submissions=data["submissions"],
        compared=data["compared"],
        pairs=pairs,
        threshold=data["threshold"],
        unreadable=tuple(data["unreadable"]),
        sources=data["sources"],
    )


def _pairs(n: int) -> str:
    return f"{n} pair" + ("" if n == 1 else "s")


def _pairs_of(ranges: Iterable[Sequence[int]]) -> tuple[tuple[int, int], ...]:
    return tuple((int(s), int(e)) for s, e in ranges)


def lines(found: Similarity) -> list[str]:
    """The summary printed at the end of a batch."""
    above = found.above()
    out = [
        f"Similarity: {found.compared} of {found.submissions} submissions have code of their own"
        f" to compare; {_pairs(len(above))} at or above {found.threshold:.0%}"
        + (f" ({FOLDER}/pairs.csv):" if above else ".")
    ]
    out += [f"  {p.score:4.0%}  {p.a}  ~  {p.b}" for p in above[:10]]
    if len(above) > 10:
        out.append(f"  ... and {len(above) - 10} more")
    if found.unreadable:
        out.append(f"  not compared (unreadable): {', '.join(found.unreadable)}")
    out.append(f"  {NOTICE}")
    return out


# -- the side-by-side view ---------------------------------------------------------------------


def marked(source: str, ranges: Sequence[tuple[int, int]]) -> str:
    """``source`` as HTML-escaped text with each range in a ``<mark>``."""
    out, at = [], 0
    for first, last in ranges:
        start, end = max(first, at), min(last, len(source))
        if start >= end:
            continue
        out += [html.escape(source[at:start]), "<mark>", html.escape(source[start:end]), "</mark>"]
        at = end
    out.append(html.escape(source[at:]))
    return "".join(out)
