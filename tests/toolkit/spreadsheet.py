"""How a spreadsheet and a terminal read what the grader writes: the checks of issue 29.

``formula_cells`` reads every ``.csv`` under a folder as Excel or LibreOffice would open it and
lists the cells they would run as formulas; ``raw_controls`` lists control characters in
captured terminal output. Any test (batch, exports, feedback, LMS files) can call them on its
own output folder.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

#: The first characters that make a cell a formula (OWASP, CSV Injection), after the leading
#: spaces an importer may trim; tab and carriage return count on their own.
_TRIGGERS = "=+-@\uff1d\uff0b\uff0d\uff20"

#: A plain number: "-2" or "-0.5" is a value, not a formula, and scores may be negative.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")

#: Control characters a terminal acts on (C0 but newline, DEL, C1) and bidi overrides.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def is_formula(cell: str) -> bool:
    """Would a spreadsheet evaluate this cell (as the csv module read it back)?"""
    if cell[:1] in ("\t", "\r", "\n"):
        return True
    stripped = cell.lstrip(" \u00a0\u3000")
    return stripped[:1] in _TRIGGERS and not _NUMBER.fullmatch(stripped)


def formula_cells(folder: Path) -> list[tuple[str, int, str]]:
    """(file, row, cell) of every cell a spreadsheet would run, in every .csv under ``folder``."""
    found = []
    for path in sorted(folder.rglob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            for number, row in enumerate(csv.reader(fh), 1):
                found += [(str(path), number, c) for c in row if is_formula(c)]
    return found


def csv_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.csv"))


def raw_controls(text: str, *, allow_tabs: bool = False) -> list[str]:
    """The raw control characters in terminal output (newlines allowed; tabs if the tool
    itself lays out columns with them)."""
    return [m.group() for m in _CONTROL.finditer(text) if not (allow_tabs and m.group() == "\t")]
