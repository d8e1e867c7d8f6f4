"""The student README's promises and the grading tests, mapped both ways (issue 16).

docs/SUITES.md, "The student README's promises, both ways", holds two tables: each sentence of
``assignment/README.md`` that promises or forbids something, with the tests that check it; and
each hidden test family with the sentences it checks. ``problems`` holds the tables to the
README and to the suites, so that a hidden test cannot be added without saying which sentence
it checks, and a sentence cannot leave the README while tests still rely on it.
"""

from __future__ import annotations

import ast
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "assignment" / "README.md"
SUITES_MD = ROOT / "docs" / "SUITES.md"
GRADING = ROOT / "tests" / "grading"
TOOLKIT = ROOT / "tests" / "toolkit"

PROMISES = "### What the README promises, and the tests that check it"
FAMILIES = "### Hidden test families, and the sentences they check"


@dataclass(frozen=True)
class Promise:
    id: str
    sentence: str
    public: tuple[str, ...]
    families: frozenset[str]
    toolkit: tuple[str, ...]


@dataclass(frozen=True)
class Family:
    name: str
    tests: tuple[str, ...]
    sentences: tuple[str, ...]


def table(text: str, heading: str) -> list[list[str]]:
    """The body rows of the first Markdown table under ``heading``, as lists of cell texts."""
    lines = text.splitlines()
    if heading not in lines:
        raise AssertionError(f"docs/SUITES.md has no heading {heading!r}")
    rows: list[list[str]] = []
    for line in lines[lines.index(heading) + 1 :]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows or line.startswith("#"):
            break
    return rows[2:]  # past the header and its rule


def _spans(cell: str) -> tuple[str, ...]:
    return tuple(re.findall(r"`([^`]+)`", cell))


def _names(cell: str) -> frozenset[str]:
    return frozenset(n.strip() for n in cell.split(",") if n.strip())


def promises(suites_md: str) -> dict[str, Promise]:
    out: dict[str, Promise] = {}
    for cells in table(suites_md, PROMISES):
        rid, said, public, families, toolkit = cells
        quoted = re.fullmatch(r'"(.+)"', said)
        if quoted is None:
            raise AssertionError(f"{rid}: the sentence must be quoted, got {said!r}")
        out[rid] = Promise(rid, quoted[1], _spans(public), _names(families), _spans(toolkit))
    return out


def families(suites_md: str) -> list[Family]:
    return [
        Family(name, _spans(tests), tuple(sorted(_names(refs))))
        for name, tests, refs in table(suites_md, FAMILIES)
    ]


def defined_tests(folder: Path) -> dict[str, list[str]]:
    """Test function name -> the files of ``folder`` that define it at their top level."""
    out: dict[str, list[str]] = {}
    for path in sorted(folder.glob("test_*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                out.setdefault(node.name, []).append(path.name)
    return out


def _words(text: str) -> str:
    return " ".join(text.split())


def problems(readme: str, suites_md: str, grading: Path, toolkit: Path) -> list[str]:
    """Everything in which the two tables disagree with the README or with the suites."""
    said, fams = promises(suites_md), families(suites_md)
    hidden, public = defined_tests(grading / "hidden"), defined_tests(grading / "public")
    tools = defined_tests(toolkit)
    out: list[str] = []
    text = _words(readme)
    for p in said.values():
        if _words(p.sentence) not in text:
            out.append(f"{p.id}: the README no longer says {p.sentence!r}")
        for name in p.public:
            if name not in public:
                out.append(f"{p.id}: {name} is not a public test")
        for ref in p.toolkit:
            file, _, name = ref.partition("::")
            if file not in tools.get(name, []):
                out.append(f"{p.id}: {ref} is not a toolkit test")
    for name, files in hidden.items():
        if len(files) > 1:
            out.append(f"hidden test {name} is defined in {', '.join(files)}: names must be unique")
    mapped: dict[str, str] = {}
    for fam in fams:
        if not fam.sentences:
            out.append(f"hidden family {fam.name!r} cites no README sentence")
        for ref in fam.sentences:
            if ref not in said:
                out.append(f"hidden family {fam.name!r} cites {ref}, which is not in the table")
        for name in fam.tests:
            if name not in hidden:
                out.append(f"hidden family {fam.name!r} lists {name}, which is not a hidden test")
            elif name in mapped:
                out.append(f"hidden test {name} is in two families, {mapped[name]!r}, {fam.name!r}")
            mapped.setdefault(name, fam.name)
    for name, files in sorted(hidden.items()):
        if name not in mapped:
            out.append(
                f"hidden test {name} ({files[0]}) has no README sentence: add it to the family of "
                "docs/SUITES.md whose sentences it checks (or add the sentence to the README first)"
            )
    for p in said.values():
        citing = frozenset(f.name for f in fams if p.id in f.sentences)
        if p.families != citing:
            out.append(
                f"{p.id} lists the hidden families {sorted(p.families)}, but those citing it are "
                f"{sorted(citing)}"
            )
    listed = {name for p in said.values() for name in p.public}
    for name in sorted(set(public) - listed):
        out.append(f"public test {name} is under no README sentence")
    return out


def _current() -> list[str]:
    return problems(
        README.read_text(encoding="utf-8"), SUITES_MD.read_text(encoding="utf-8"), GRADING, TOOLKIT
    )


def test_the_tables_match_the_readme_and_the_suites() -> None:
    found = _current()
    assert not found, "\n".join(found)


def test_the_tables_are_not_empty() -> None:
    text = SUITES_MD.read_text(encoding="utf-8")
    assert len(promises(text)) >= 20
    assert sum(len(f.tests) for f in families(text)) == len(defined_tests(GRADING / "hidden"))


def _copy_suites(dest: Path) -> Path:
    for suite in ("public", "hidden"):
        shutil.copytree(GRADING / suite, dest / suite, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


PLANTED = '''
import pytest


@pytest.mark.points(1)
@pytest.mark.tags("softmax")
def test_softmax_of_float16_scores(student, reference):
    """a check the README says nothing about"""
'''


def test_a_hidden_test_without_a_sentence_fails(tmp_path: Path) -> None:
    grading = _copy_suites(tmp_path)
    (grading / "hidden" / "test_planted_hidden.py").write_text(PLANTED, encoding="utf-8")
    found = problems(
        README.read_text(encoding="utf-8"), SUITES_MD.read_text(encoding="utf-8"), grading, TOOLKIT
    )
    assert len(found) == 1, found
    planted = "hidden test test_softmax_of_float16_scores (test_planted_hidden.py) has no README"
    assert found[0].startswith(planted), found


def test_a_sentence_gone_from_the_readme_fails() -> None:
    readme = README.read_text(encoding="utf-8")
    kink = "where a term `s_j - s_{y_i} + margin` is exactly 0, the term counts as\n  inactive."
    assert kink in readme
    found = problems(
        readme.replace(kink, "where a term is 0, it is inactive."),
        SUITES_MD.read_text(encoding="utf-8"),
        GRADING,
        TOOLKIT,
    )
    assert len(found) == 1 and found[0].startswith("R12: the README no longer says"), found


def test_a_family_moved_without_its_sentence_fails() -> None:
    text = SUITES_MD.read_text(encoding="utf-8")
    row = "| the hinge's kink | `test_svm_grad_at_a_kink`, `test_hinge_backward_at_a_kink` | R12 |"
    assert row in text
    moved = row.replace("| R12 |", "| R1 |")
    found = problems(README.read_text(encoding="utf-8"), text.replace(row, moved), GRADING, TOOLKIT)
    assert any(f.startswith("R1 lists the hidden families") for f in found), found
    assert any(f.startswith("R12 lists the hidden families") for f in found), found
