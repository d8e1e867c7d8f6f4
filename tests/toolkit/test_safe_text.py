"""grader.safe_text: student text safe in a spreadsheet cell and on a terminal (issue 29)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import spreadsheet

from grader.safe_text import csv_cell, csv_row, csv_writer, for_terminal

#: Cells of the attack in issue 29, and more of the same kind.
ATTACKS = [
    '=HYPERLINK("http://x.invalid","click")',
    "+1+1",
    "@SUM(A1:A2)",
    "-2+3",
    "\t=1+2",
    "\r=3+4",
    "\n=5+6",
    "\x00=9+9",
    "  =7+8",
    "\u00a0=cmd|' /C calc'!A0",
    "\uff1d1+1",
    "-2",
    "-",
    "=",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_formula_trigger_becomes_text(attack: str) -> None:
    cell = csv_cell(attack)
    assert cell == "'" + attack
    assert not spreadsheet.is_formula(str(cell))


@pytest.mark.parametrize(
    "text", ["Ada Lovelace", "ada@example.edu", "0042", "'quoted", "", " ", "Zoë Ñandú", "李雷"]
)
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert csv_cell(text) == text


def test_numbers_stay_numbers_and_the_rest_is_text() -> None:
    assert csv_cell(3) == 3 and isinstance(csv_cell(3), int)
    assert csv_cell(-2.5) == -2.5 and isinstance(csv_cell(-2.5), float)
    assert csv_cell(0) == 0
    # A bool is not a score: it is written as text, never as 1 or 0.
    assert csv_cell(True) == "True"
    assert csv_cell(None) == ""
    # Objects are text (a Path, an enum), and their text is checked like any other.
    assert csv_cell(Path("=x")) == "'=x"
    # A numeric-looking string came from a student field: text, prefixed (see csv_cell).
    assert csv_cell("-2") == "'-2"
    assert csv_cell("2") == "2"


def test_every_kind_of_number_stays_a_number() -> None:
    """A score computed with NumPy or Decimal is a number, not text with a ``'`` (issue 29)."""
    for value, cell in [
        (np.int64(-5), -5),
        (np.uint8(3), 3),
        (np.float64(-0.5), -0.5),
        (np.float32(-1.5), -1.5),
        (Decimal("-2.50"), Decimal("-2.50")),
        (Fraction(-1, 2), -0.5),
    ]:
        assert csv_cell(value) == cell and isinstance(csv_cell(value), type(cell)), value
    assert csv_cell(np.bool_(True)) == "True"  # a bool is text, NumPy's too
    out = io.StringIO(newline="")
    csv_writer(out).writerow([np.int64(-5), np.float64(-0.5), Decimal("-2.50"), Fraction(1, 2)])
    assert out.getvalue() == "-5,-0.5,-2.50,0.5\r\n"


def test_the_writer_quotes_text_and_leaves_numbers_bare() -> None:
    out = io.StringIO(newline="")
    writer = csv_writer(out)
    writer.writerow(["name", "score"])
    writer.writerows([["=1+2", -1.5], ['a,"b"\nc', 10]])
    assert out.getvalue().splitlines()[:2] == ['"name","score"', '"\'=1+2",-1.5']
    rows = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert rows == [["name", "score"], ["'=1+2", "-1.5"], ['a,"b"\nc', "10"]]
    # Read back as QUOTE_NONNUMERIC does (as importers do): the scores are numbers again.
    typed = list(csv.reader(io.StringIO(out.getvalue()), quoting=csv.QUOTE_NONNUMERIC))
    assert typed[1][1] == -1.5 and typed[2][1] == 10.0


def test_csv_row_applies_the_rule_to_every_cell() -> None:
    assert csv_row(["@x", 1, None, "ok"]) == ["'@x", 1, "", "ok"]


def test_the_checker_sees_every_unsafe_cell(tmp_path: Path) -> None:
    """The checker the end-to-end tests rely on finds what a plain csv.writer lets through."""
    (tmp_path / "sub").mkdir()
    with (tmp_path / "sub" / "raw.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([[a, 1] for a in ATTACKS])
    with (tmp_path / "safe.csv").open("w", newline="") as fh:
        csv_writer(fh).writerows([[a, -1, "", None] for a in ATTACKS])
    found = spreadsheet.formula_cells(tmp_path)
    assert {cell for _, _, cell in found} == set(ATTACKS) - {"-2"}
    assert all(f.endswith("raw.csv") for f, _, _ in found)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J\x1b]0;pwned\x07", "\\x1b[2J\\x1b]0;pwned\\x07"),
        ("Ada\rBob", "Ada\\rBob"),
        ("a\tb", "a\\tb"),
        ("line\nforged", "line\\nforged"),
        ("\x00\x7f\x9b", "\\x00\\x7f\\x9b"),
        ("abc\u202eexe.txt", "abc\\u202eexe.txt"),
        ("x\u2028y", "x\\u2028y"),
    ],
)
def test_control_characters_are_shown_not_sent(raw: str, shown: str) -> None:
    assert for_terminal(raw) == shown
    assert spreadsheet.raw_controls(for_terminal(raw)) == []


def test_printable_text_passes_unchanged() -> None:
    text = "Zoë Ñandú 李雷 ada@example.edu C:\\path 100%"
    assert for_terminal(text) == text
    assert for_terminal(Path("/tmp/x")) == "/tmp/x"
    assert for_terminal(3.5) == "3.5"


def test_newlines_kept_on_request_but_nothing_else() -> None:
    assert for_terminal("one\ntwo\r\x1b[1Athree", newlines=True) == "one\ntwo\\r\\x1b[1Athree"
    assert spreadsheet.raw_controls(for_terminal("a\x1b\nb", newlines=True)) == []


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream", [_Terminal(), io.StringIO()])
def test_the_batch_progress_line_shows_student_ids_escaped(stream: io.StringIO) -> None:
    """The cluster's state line names the submissions that run: on the bar's line of a
    terminal as on a line of its own, their ids cannot move the cursor or retitle it."""
    from grader.classroom.batch import Progress, Summary

    Progress(Summary(), 2, stream).status("dask: 1 worker connected; grading a\x1b]0;pwn\x07\rb")
    shown = stream.getvalue().lstrip("\r")
    assert "a\\x1b]0;pwn\\x07\\rb" in shown
    assert spreadsheet.raw_controls(shown.rstrip("\n")) == []
