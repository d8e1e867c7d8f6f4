"""The realistic-mistakes corpus (tests/corpus/mistakes) graded, and the quality of its hints.

Each corpus file ``<module>__<what>.py`` holds one function (or one ``torch.autograd.Function``
class) of the assignment written the way students write it, wrong only by the mistakes its
first line names (``# mistake: log-of-p half-reg``), or ``# mistake: correct`` for a correct
variant. A crash also says what the student must see (``# shows: NameError``). The submission is
the reference with the file appended to its module (the later definition wins), graded on the
tests of that one function (``Options(only=function)``).

A hint reaches the student as a line ``  hint: ...`` of a failed test's output. Its text is
looked up in the bug library (tests/grading/bugs.py) to find its bug id, and ``NAMES`` says
which mistakes of the corpus that bug's hint names. Per corpus entry:

* caught: a test of its function fails;
* named: every mistake of the entry is named by a hint shown on a failed test (a crash: the
  exception it raised is shown);
* misleading: a hint shown names a mistake the entry does not have, or is not in the library
  (then nothing says it is true of the entry);
* public: a public test fails (the student sees it with ``grader check`` before submitting).

Run as a script (``.venv/bin/python tests/toolkit/hint_quality.py``), it grades the corpus and
prints the figures that docs/SUITES.md quotes; ``--verbose`` adds a line per entry.
"""

from __future__ import annotations

import ast
import re
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from grader.authoring import pack  # noqa: E402
from grader.grading import engine, feedback  # noqa: E402
from grader.grading.results import TestOutcome  # noqa: E402
from grader.sandbox.host import Mother  # noqa: E402
from grader.sandbox.layers import Limits  # noqa: E402

SOLUTIONS = ROOT / "solutions"
CORPUS = ROOT / "tests" / "corpus" / "mistakes"
LIMITS = Limits(call_timeout=3.0)

#: The mistakes of the corpus (the rows of issue 26's table), with what each label means.
MISTAKES: dict[str, str] = {
    "log-of-p": "rows shifted by their max, then log of the normalized probability (no "
    "log-sum-exp): p_y underflows to 0 and the loss is inf",
    "half-reg": "the old CS231n convention: 0.5 * reg * sum(W*W) in the loss and reg * W in "
    "the gradient",
    "no-shift": "no max shift at all: exp overflows",
    "global-max": "shifted by the max of the whole matrix instead of each row's",
    "reg-wrong": "regularization missing from the loss or the gradient, or written wrong "
    "(sum(W*W) without reg, W.dot(W.T), a norm not squared)",
    "svm-reg-grad": "svm: the loss's penalty right, its gradient wrong (reg * W, 0.5 * reg * W, "
    "added before the division by N)",
    "adam-no-bias": "Adam without bias correction",
    "adam-t-fixed": "Adam's bias correction with t fixed (1 - beta, t = 1)",
    "svm-grad-counts-yi": "svm gradient counting the term j = y_i",
    "grad-not-averaged": "softmax dW not divided by N",
    "kink-active": "svm: a term exactly at its kink counted as active in the gradient",
    "crash": "raises (TypeError, NameError, a hard-coded CUDA device)",
}
CORRECT = "correct"
#: How ``Judged.misleading`` lists a hint that is not in the bug library (nothing says it is true).
UNLISTED = "not in the library: "

#: Bug id of tests/grading/bugs.py -> the corpus mistakes its hint names: one or more
#: alternatives (``|``), each a set of mistakes named together. A hint is true of an entry when
#: one alternative is a subset of the entry's mistakes, and it names the union of those that
#: are; else it misleads. (The hint "the regularization part of your dW is half what it should
#: be" is true of an svm whose gradient alone is wrong and of one with the 0.5 * reg convention
#: in both lines.) A bug missing here names none of the corpus's mistakes, so its hint misleads
#: whatever entry it is shown to; a new bug whose hint does name one must be added.
NAMES: dict[str, tuple[frozenset[str], ...]] = {
    bug_id: tuple(frozenset(alt.split()) for alt in alternatives.split("|"))
    for bug_id, alternatives in {
        # the max shift, alone and with the log of a probability
        "softmax-no-shift": "no-shift",
        "softmax-global-max": "global-max",
        "ce-no-shift": "no-shift | no-shift log-of-p",  # says: log-sum-exp
        "ce-global-max": "global-max",
        "smgrad-no-shift": "no-shift",
        "smgrad-global-max": "global-max",
        "sce-no-shift": "no-shift",
        "ce-no-shift-log-of-probability": "no-shift log-of-p",
        "ce-global-max-log-of-probability": "global-max log-of-p",
        "smgrad-no-shift-log-of-probability": "no-shift log-of-p",
        "smgrad-global-max-log-of-probability": "global-max log-of-p",
        # log of a probability instead of log-sum-exp
        "ce-log-of-probability": "log-of-p",
        "smgrad-log-of-probability": "log-of-p",
        "ce-log-of-probability-one-hot": "log-of-p",
        "smgrad-log-of-probability-one-hot": "log-of-p",
        "sce-log-of-probability": "log-of-p",
        # the 0.5 * reg convention, alone and combined
        "smgrad-half-reg": "half-reg",
        "svmgrad-half-reg": "half-reg",
        # the 0.5 in the loss alone (dW right) is a penalty written wrong
        "smgrad-loss-half-reg": "half-reg | reg-wrong",
        "svmgrad-loss-half-reg": "half-reg",
        "smgrad-reg-grad-1x": "half-reg",
        "smgrad-log-of-probability-half-reg": "log-of-p half-reg",
        "smgrad-no-shift-half-reg": "no-shift half-reg",
        "smgrad-global-max-half-reg": "global-max half-reg",
        "smgrad-no-shift-log-of-probability-half-reg": "no-shift log-of-p half-reg",
        "smgrad-global-max-log-of-probability-half-reg": "global-max log-of-p half-reg",
        "smgrad-half-reg-grad-not-averaged": "half-reg grad-not-averaged",
        # regularization missing or written wrong
        "smgrad-no-reg": "reg-wrong",
        "smgrad-no-reg-in-loss": "reg-wrong",
        "smgrad-no-reg-in-grad": "reg-wrong",
        "smgrad-reg-without-reg": "reg-wrong",
        "smgrad-reg-w-dot-wt": "reg-wrong",
        "smgrad-reg-norm-not-squared": "reg-wrong",
        "svmgrad-reg-norm-not-squared": "reg-wrong",
        "smgrad-reg-l1": "reg-wrong",
        "svmgrad-reg-l1": "reg-wrong",
        "svmgrad-no-reg": "reg-wrong",
        "svmgrad-no-reg-in-loss": "reg-wrong",
        "svmgrad-no-reg-in-grad": "reg-wrong",
        # the svm's penalty gradient
        "svmgrad-reg-grad-1x": "svm-reg-grad | half-reg",
        "svmgrad-reg-grad-half": "svm-reg-grad",
        "svmgrad-reg-grad-averaged": "svm-reg-grad",
        # averaging, the correct class, the kink
        "smgrad-grad-not-averaged": "grad-not-averaged",
        "svmgrad-grad-not-averaged": "grad-not-averaged",
        "svmgrad-includes-correct-class": "svm-grad-counts-yi",
        "svmgrad-grad-counts-correct-class": "svm-grad-counts-yi",
        "svmgrad-kink-active": "kink-active",
        "svmgrad-kink-active-in-grad": "kink-active",
        "hinge-kink-active-in-backward": "kink-active",
        # Adam
        "adam-no-bias-correction": "adam-no-bias",
        "adam-no-bias-correction-m": "adam-no-bias",
        "adam-no-bias-correction-v": "adam-no-bias",
        "adam-t-fixed": "adam-t-fixed",
    }.items()
}

_HEADER = re.compile(r"^#\s*mistake:\s*(?P<labels>[\w\- ]+?)\s*$")
_SHOWS = re.compile(r"^#\s*shows:\s*(?P<shows>.+?)\s*$")
_HINT_LINE = re.compile(r"^\s*hint: (?P<hint>.*)$")


@dataclass(frozen=True)
class Entry:
    """One corpus file: the function it redefines and the mistakes it is labelled with."""

    path: Path
    module: str
    function: str
    labels: frozenset[str]  # empty for a correct variant
    shows: str = ""  # a crash: what its failed test must show (case-insensitive)

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def correct(self) -> bool:
        return not self.labels


def load(corpus: Path = CORPUS) -> list[Entry]:
    """Every corpus file, checked for a known module, one assignment name and known labels."""
    entries = []
    for path in sorted(corpus.glob("*__*.py")):
        module = path.name.split("__", 1)[0]
        if module not in pack.active().by_module:
            raise ValueError(f"{path.name}: unknown module {module!r}")
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        head = _HEADER.match(lines[0]) if lines else None
        if head is None:
            raise ValueError(f"{path.name}: the first line must be '# mistake: LABEL ...'")
        labels = frozenset(head["labels"].split())
        if labels == {CORRECT}:
            labels = frozenset()
        unknown = labels - set(MISTAKES)
        if unknown:
            raise ValueError(f"{path.name}: unknown mistakes {sorted(unknown)}")
        shows = next((m["shows"] for ln in lines[1:3] if (m := _SHOWS.match(ln))), "")
        if ("crash" in labels) != bool(shows):
            raise ValueError(f"{path.name}: a crash, and only a crash, says '# shows: ...'")
        names = [
            node.name
            for node in ast.parse(text, path.name).body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))
        ]
        graded = [n for n in names if n in pack.active().by_module[module]]
        if len(graded) != 1 or len(names) != 1:
            raise ValueError(f"{path.name}: defines {names}, not one function of {module}.py")
        entries.append(Entry(path, module, graded[0], labels, shows))
    return entries


def build(entry: Entry, dest: Path) -> Path:
    """The reference with the entry's code appended to its module, in ``dest``."""
    dest.mkdir(parents=True)
    for src in sorted(SOLUTIONS.glob("*.py")):
        text = src.read_text(encoding="utf-8")
        if src.stem == entry.module:
            text += "\n\n# ---- the student's function ----\n" + entry.path.read_text("utf-8")
        (dest / src.name).write_text(text, encoding="utf-8")
    return dest


def grade(entry: Entry, dest: Path, mother: Mother | None = None) -> list[TestOutcome]:
    """The outcomes of the tests of the entry's function (public and hidden)."""
    result = engine.grade(
        build(entry, dest), engine.Options(only=entry.function, limits=LIMITS), mother=mother
    )
    if result.grader_error is not None:
        raise RuntimeError(f"{entry.name}: grader error\n{result.grader_error}")
    return list(result.tests)


def hints_shown(outcomes: Iterable[TestOutcome]) -> list[str]:
    """The hint lines of the failed tests, in order, without repeats."""
    seen: dict[str, None] = {}
    for t in outcomes:
        if t.status != "failed":
            continue
        for line in t.output.splitlines():
            if m := _HINT_LINE.match(line):
                seen.setdefault(m["hint"].strip(), None)
    return list(seen)


def bug_of_hint() -> dict[str, dict[str, str]]:
    """Hint text (as shown: one line, whitespace collapsed) -> {function: the id of the first
    bug of that function with this hint} (two functions' bugs may share a hint's words)."""
    out: dict[str, dict[str, str]] = {}
    for bug in feedback.bugs(ROOT / "tests" / "grading"):
        out.setdefault(_flat(bug.hint), {}).setdefault(bug.function, bug.id)
    return out


def _flat(text: str) -> str:
    return " ".join(text.split())


@dataclass
class Judged:
    """One entry's grading, judged."""

    entry: Entry
    caught: bool
    public: bool  # a public test failed
    hints: list[str]
    bugs: list[str]  # the bug ids of the hints found in the library
    unlisted: list[str] = field(default_factory=list)  # hints not in the library
    unjudged: list[str] = field(default_factory=list)  # bug ids missing from NAMES (misleading)
    named: frozenset[str] = frozenset()  # the entry's mistakes that a hint names
    # bug ids naming a mistake it lacks, and UNLISTED + the start of each hint not in the library
    misleading: list[str] = field(default_factory=list)
    lost_points: bool = False  # a correct variant: some test of its function failed

    @property
    def fully_named(self) -> bool:
        return self.named == self.entry.labels


def judge(entry: Entry, outcomes: list[TestOutcome], library: dict[str, dict[str, str]]) -> Judged:
    failed = [t for t in outcomes if t.status == "failed"]
    hints = hints_shown(outcomes)
    bugs, unlisted = [], []
    for hint in hints:
        owners = library.get(_flat(hint))
        if owners:
            bugs.append(owners.get(entry.function, next(iter(owners.values()))))
        else:
            unlisted.append(hint)
    named: set[str] = set()
    misleading = []
    for bug in bugs:
        true_of_it = [alt for alt in NAMES.get(bug, ()) if alt <= entry.labels]
        if true_of_it:
            named.update(*true_of_it)
        else:
            misleading.append(bug)
    # a hint not found in the library cannot be judged true of the entry: it counts as misleading
    misleading += [f"{UNLISTED}{hint[:60]}" for hint in unlisted]
    if entry.shows and any(entry.shows.lower() in t.output.lower() for t in failed):
        named.add("crash")
    return Judged(
        entry=entry,
        caught=bool(failed),
        public=any(t.suite == "public" for t in failed),
        hints=hints,
        bugs=bugs,
        unlisted=unlisted,
        unjudged=[b for b in bugs if b not in NAMES],
        named=frozenset(named & entry.labels),
        misleading=misleading,
        lost_points=bool(failed) and entry.correct,
    )


def grade_all(
    entries: list[Entry],
    mother: Mother,
    workdir: Path,
    library: dict[str, dict[str, str]] | None = None,
) -> list[Judged]:
    library = bug_of_hint() if library is None else library
    return [judge(e, grade(e, workdir / e.name, mother), library) for e in entries]


# -- figures ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    wrong: int
    correct: int
    caught: int
    named: int
    partly_named: int
    misleading: int
    public: int
    correct_kept: int  # correct variants with full points and no hint
    per_mistake: dict[str, tuple[int, int, int, int]]  # label -> (n, named, misleading, public)


def figures(judged: list[Judged]) -> Figures:
    wrong = [j for j in judged if not j.entry.correct]
    right = [j for j in judged if j.entry.correct]
    per: dict[str, tuple[int, int, int, int]] = {}
    for label in MISTAKES:
        mine = [j for j in wrong if label in j.entry.labels]
        if mine:
            per[label] = (
                len(mine),
                sum(label in j.named for j in mine),
                sum(bool(j.misleading) for j in mine),
                sum(j.public for j in mine),
            )
    return Figures(
        wrong=len(wrong),
        correct=len(right),
        caught=sum(j.caught for j in wrong),
        named=sum(j.fully_named for j in wrong),
        partly_named=sum(bool(j.named) and not j.fully_named for j in wrong),
        misleading=sum(bool(j.misleading) for j in wrong),
        public=sum(j.public for j in wrong),
        correct_kept=sum(not j.lost_points and not j.hints for j in right),
        per_mistake=per,
    )


def _pct(k: int, n: int) -> str:
    return f"{k}/{n} ({100 * k / n:.0f}%)" if n else "0/0"


def report(f: Figures) -> str:
    lines = [
        f"realistic mistakes: {f.wrong} wrong functions, {f.correct} correct variants",
        f"caught (a test of their function fails): {_pct(f.caught, f.wrong)}",
        f"a hint names every mistake:             {_pct(f.named, f.wrong)}"
        f" (some but not all: {f.partly_named})",
        f"a misleading hint:                      {_pct(f.misleading, f.wrong)}",
        f"a public test fails:                    {_pct(f.public, f.wrong)}",
        f"correct variants, full points, no hint: {_pct(f.correct_kept, f.correct)}",
        "",
        "| mistake | n | named | misleading | public test fails |",
        "|---|---|---|---|---|",
    ]
    for label, (n, named, misled, public) in f.per_mistake.items():
        lines.append(f"| {label} | {n} | {named} | {misled} | {public} |")
    return "\n".join(lines)


def describe(j: Judged) -> str:
    labels = " ".join(sorted(j.entry.labels)) or CORRECT
    if j.entry.correct:
        status = ["LOST POINTS" if j.lost_points else "full points"]
        status.append(f"HINTS {j.bugs + j.unlisted}" if j.hints else "no hint")
        return f"{j.entry.name} [{labels}]: " + ", ".join(status)
    status = [
        "caught" if j.caught else "NOT CAUGHT",
        "public" if j.public else "hidden only",
        f"named {' '.join(sorted(j.named)) or '-'}",
    ]
    if j.misleading:
        status.append(f"MISLEADING {j.misleading}")
    if j.unjudged:
        status.append(f"(not in NAMES: {j.unjudged}; add those whose hint names a mistake)")
    if j.unlisted:
        status.append(f"hints not in the library {[h[:60] for h in j.unlisted]}")
    return f"{j.entry.name} [{labels}]: " + ", ".join(status)


def main(argv: list[str]) -> int:
    verbose = "--verbose" in argv
    entries = load()
    mother = Mother()
    try:
        with tempfile.TemporaryDirectory(prefix="hint-quality-") as tmp:
            judged = grade_all(entries, mother, Path(tmp))
    finally:
        mother.close()
    if verbose:
        print("\n".join(describe(j) for j in judged), end="\n\n")
    print(report(figures(judged)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
