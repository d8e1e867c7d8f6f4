"""The similarity check (issue 14, item 1): a planted copy ranks first, the starter code makes
nobody alike, and the batch, the CSV and the report's side-by-side pages show it without
changing a score."""

from __future__ import annotations

import ast
import csv
import io
import re
import shutil
import tokenize
from pathlib import Path

import nbformat
import pytest

from grader.authoring import pack
from grader.classroom import batch, similarity
from grader.classroom.gradebook import Gradebook
from grader.classroom.report import write_report

ROOT = pack.ROOT
VARIANTS = ROOT / "tests" / "corpus" / "variants"
#: Which correct-but-unusual variants each student of the class wrote (tests/corpus/variants):
#: everyone starts from the stubs and fills in different functions, in different ways.
CLASS = {
    "s-stub": (),
    "s-loops": ("gradients__loops",),
    "s-search": ("search__lists_and_loops",),
    "s-optim": ("optim__in_place", "schedules__loop_and_cos2"),
    "s-orig": ("losses__python_loops", "optim__torch_style"),
    "s-norms": ("losses__inv_and_norms", "gradients__copies_and_loops"),
}
COPY = "s-copy"  # s-orig with its variables renamed and its functions reordered, as a notebook
ORIGINAL = "s-orig"


def student(dest: Path, variants: tuple[str, ...]) -> Path:
    """The stubs with the variants' definitions added to their modules."""
    dest.mkdir(parents=True)
    for stub in sorted(pack.active().assignment.glob("*.py")):
        text = stub.read_text()
        for v in variants:
            if v.split("__")[0] == stub.stem:
                text += "\n\n" + (VARIANTS / f"{v}.py").read_text()
        (dest / stub.name).write_text(text)
    return dest


def disguise(source: str) -> str:
    """``source`` with every argument and local variable renamed and the functions and classes
    in reverse order: what a student hiding a copy would do first."""
    tree = ast.parse(source)
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    keep = {n.name for n in defs} | {"self", "ctx"}
    for n in tree.body:
        if isinstance(n, ast.Import | ast.ImportFrom):
            keep |= {a.asname or a.name.split(".")[0] for a in n.names}
    local = {
        x.arg if isinstance(x, ast.arg) else x.id
        for d in defs
        for x in ast.walk(d)
        if isinstance(x, ast.arg) or (isinstance(x, ast.Name) and isinstance(x.ctx, ast.Store))
    }
    rename = {name: f"tmp_{i}" for i, name in enumerate(sorted(local - keep))}
    tokens, previous = [], ""
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        t = tok
        if t.type == tokenize.NAME and t.string in rename and previous != ".":
            t = t._replace(string=rename[t.string])
        tokens.append(t)
        if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
            previous = t.string
    renamed = tokenize.untokenize(tokens)
    lines = renamed.splitlines(keepends=True)
    defs = [n for n in ast.parse(renamed).body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    if not defs:
        return renamed
    starts = [(d.decorator_list[0] if d.decorator_list else d).lineno - 1 for d in defs]
    blocks = ["".join(lines[s : d.end_lineno]) + "\n\n" for s, d in zip(starts, defs, strict=True)]
    return "".join(lines[: starts[0]]) + "".join(reversed(blocks))


@pytest.fixture(scope="module")
def klass(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("similar") / "class"
    for name, variants in CLASS.items():
        student(root / name, variants)
    shutil.copytree(pack.active().solutions, root / "s-ref", ignore=shutil.ignore_patterns("__*"))
    nb = nbformat.v4.new_notebook()
    for f in sorted((root / ORIGINAL).glob("*.py"), reverse=True):
        cell = f"%%writefile {f.name}\n{disguise(f.read_text())}"
        nb.cells.append(nbformat.v4.new_code_cell(cell))
    nbformat.write(nb, root / f"{COPY}.ipynb")
    return root


def members(root: Path) -> dict[str, Path]:
    return {p.stem if p.is_file() else p.name: p for p in root.iterdir()}


def test_the_disguise_renames_and_reorders(klass: Path) -> None:
    original = (klass / ORIGINAL / "losses.py").read_text()
    copied = disguise(original)
    names = re.findall(r"^def (\w+)", original, re.M)
    assert re.findall(r"^def (\w+)", copied, re.M) == names[::-1]
    assert "tmp_" in copied and copied.count("scores") < original.count("scores")
    compile(copied, "losses.py", "exec")


def test_a_planted_pair_ranks_first_above_pairs_sharing_only_the_starter_code(
    klass: Path,
) -> None:
    found = similarity.check(members(klass))
    assert found.submissions == 8 and found.compared == 7  # the stubs have no code of their own
    top = found.pairs[0]
    assert {top.a, top.b} == {ORIGINAL, COPY}
    assert min(top.a_share, top.b_share) > 0.6
    # every other pair is far behind, and those sharing nothing but the stubs are not pairs
    assert all(p.score < top.score / 2 for p in found.pairs[1:])
    assert [p for p in found.above()] == [top]
    paired = {frozenset((p.a, p.b)) for p in found.pairs}
    for a, b in [("s-stub", "s-loops"), ("s-loops", "s-search"), ("s-search", "s-optim")]:
        assert frozenset((a, b)) not in paired
    # the shared regions are the copied code: in the original's losses.py, its own loops
    losses = next(s for s in top.shared if s.module == "losses.py")
    side = losses.a if top.a == ORIGINAL else losses.b
    source = found.sources[ORIGINAL]["losses.py"]
    marked = "".join(source[s:e] for s, e in side)
    assert "for " in marked and "NotImplementedError" not in marked


def test_without_excluding_the_starter_code_everyone_looks_alike(
    klass: Path, tmp_path: Path
) -> None:
    no_starter = tmp_path / "empty"
    no_starter.mkdir()
    found = similarity.check(members(klass), starter=no_starter)
    scores = {frozenset((p.a, p.b)): p.score for p in found.pairs}
    assert scores[frozenset(("s-loops", "s-search"))] > 0.5  # the stubs they share
    assert found.compared == 8


def test_the_batch_writes_the_pairs_and_the_report_shows_them_side_by_side(
    klass: Path, tmp_path: Path
) -> None:
    options = batch.BatchOptions(jobs=2, suites=("public",), only="losses", timeout=120)
    out = tmp_path / "out"
    stream = io.StringIO()
    batch.run_batch(klass, out, options, stream=stream)
    printed = stream.getvalue()
    assert f"{COPY}  ~  {ORIGINAL}" in printed and "changes no score" in printed
    rows = list(csv.DictReader((out / "similarity" / "pairs.csv").read_text().splitlines()))
    assert [(r["a"], r["b"]) for r in rows] == [(COPY, ORIGINAL)]
    # the scores are those of a batch that never compared anything
    plain = tmp_path / "plain"
    quiet = batch.BatchOptions(**{**options.__dict__, "check_similarity": False})
    batch.run_batch(klass, plain, quiet, stream=io.StringIO())
    assert not (plain / "similarity").exists()
    with Gradebook(out / "gradebook.sqlite") as a, Gradebook(plain / "gradebook.sqlite") as b:
        assert [(r.id, r.score) for r in a.records()] == [(r.id, r.score) for r in b.records()]

    written = write_report(out, tmp_path / "site" / "report.html")
    page = written[0].read_text()
    assert 'id="similarity"' in page and similarity.NOTICE in page
    assert 'href="report-pair-1.html"' in page and 'href="report-similar-pairs.csv"' in page
    side = (tmp_path / "site" / "report-pair-1.html").read_text()
    assert side.count("<mark>") >= 2 and "losses.py" in side and "optim.py" in side
    assert (tmp_path / "site" / "report-similar-pairs.csv").read_text().count("\n") == 2
