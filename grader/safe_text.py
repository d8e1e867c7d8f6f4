"""Student-controlled text made safe for the instructor's spreadsheets and terminals (issue 29).

Names, emails, SIDs, submission ids and file names come from students. They reach two places
that interpret text: a spreadsheet (a CSV cell beginning with ``=`` runs as a formula,
CWE-1236) and a terminal (an escape sequence recolours, moves the cursor or retitles the
window; a ``\\r`` overwrites the line already printed). Every CSV writer of the project
goes through :func:`csv_writer` (or :func:`csv_row` / :func:`csv_cell`), and every print of
student text through :func:`for_terminal`. docs/SECURITY.md, "The instructor's side".

This module imports nothing of the grader, so any layer may use it.
"""

from __future__ import annotations

import csv
import decimal
import numbers
from collections.abc import Iterable
from typing import IO

__all__ = ["FORMULA_TRIGGERS", "CsvWriter", "csv_cell", "csv_row", "csv_writer", "for_terminal"]

#: OWASP's list (CSV Injection): a cell that begins with one of these is a formula to Excel,
#: LibreOffice or Google Sheets. NUL is in OWASP ASVS 5.0's list (1.2.10); line feed joins tab
#: and carriage return, as some importers strip leading whitespace of every kind before they
#: look at the first character.
FORMULA_TRIGGERS = frozenset("=+-@\t\r\n\x00")

#: Full-width forms of the triggers: Excel with an East Asian input locale may fold them to
#: their ASCII forms. No real name begins with one, so they are neutralised too.
_WIDE_TRIGGERS = frozenset("\uff1d\uff0b\uff0d\uff20")

#: Whitespace an importer may trim before it reads the first character ("  =1+2").
_LEADING_SPACE = " \u00a0\u3000"


def csv_cell(value: object) -> object:
    """One CSV cell: text that no spreadsheet runs as a formula, numbers left as numbers.

    * Numbers (scores, a negative adjustment) stay numbers: the csv module writes them as digits
      and importers (Canvas, Moodle, Gradescope) read a number. ``int``, ``float`` and
      ``Decimal`` come back unchanged, any other integer (``np.int64``) as an ``int`` and any
      other real (``np.float32``, a ``Fraction``, whose ``1/2`` a spreadsheet reads as a date)
      as a ``float``.
    * ``bool`` is text (``"True"``), never a number: no importer expects 1 for a yes.
    * ``None`` is an empty cell.
    * Any other value is text. If it begins (after spaces) with ``=``, ``+``, ``-``, ``@``, a
      tab, a carriage return, a line feed or NUL, or the full-width forms of the first four,
      it gets a leading ``'``, the mark spreadsheets read as "this is text" (OWASP).

    A numeric-looking *string* such as ``"-2"`` is text too and gets the ``'``: a string here
    came from a student field (an SID, a name), which is an identity, not a quantity, and must
    come back as typed; a spreadsheet that turned it into the number -2 would lose ``"-02"``'s
    zero. Deciding "is this a harmless number" would also need a parser that agrees with every
    spreadsheet's (``-2E5``, ``-1,5``, ``-0x1``), which is where such filters leak. A value the
    grader computed as a number must be passed as a number.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float, decimal.Decimal)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    text = str(value)
    first = text.lstrip(_LEADING_SPACE)[:1] or text[:1]
    if first in FORMULA_TRIGGERS or first in _WIDE_TRIGGERS:
        return "'" + text
    return text


def csv_row(values: Iterable[object]) -> list[object]:
    """:func:`csv_cell` of each value of a row."""
    return [csv_cell(v) for v in values]


class CsvWriter:
    """A ``csv.writer`` whose every cell goes through :func:`csv_cell`.

    Text cells are quoted and numbers are not (``csv.QUOTE_NONNUMERIC``), so a reader tells a
    score from a student's text at a glance and a quoted cell keeps its commas and newlines.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._writer = csv.writer(stream, quoting=csv.QUOTE_NONNUMERIC)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow(csv_row(row))

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(stream: IO[str]) -> CsvWriter:
    """The one way the project writes a CSV: open the file with ``newline=""`` and pass it."""
    return CsvWriter(stream)


#: Control characters with a short, familiar escape.
_NAMED = {"\t": "\\t", "\r": "\\r", "\n": "\\n"}

#: Characters that reorder or hide what a terminal shows without being control characters:
#: the bidirectional overrides and isolates ("Trojan Source", CVE-2021-42574) and the line and
#: paragraph separators, which some terminals and pagers break lines on.
_INVISIBLE = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029"
)


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _is_unsafe(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code < 0xA0 or char in _INVISIBLE


def for_terminal(text: object, *, newlines: bool = False) -> str:
    """Student text ready to print: every control character shown as a visible escape.

    ESC becomes ``\\x1b`` (so no escape sequence reaches the terminal), ``\\r`` and ``\\t``
    their names, other C0 and C1 controls and DEL ``\\xNN``, bidirectional overrides ``\\uNNNN``.
    Printable text, accents and non-Latin scripts pass unchanged.

    A newline is escaped too (``\\n``) by default: a name or id prints on one line, and a
    student cannot forge a line of the grader's own output ("all 50 graded"). ``newlines=True``
    keeps line feeds for text that is multi-line by nature (a failure's explanation); each
    line is still escaped, and a ``\\r`` still shows as ``\\r``, so no line can overwrite another.
    Backslashes are left as they are: a literal ``\\x1b`` typed by a student prints the same as
    an escaped ESC, which is harmless (neither reaches the terminal as a control).
    """
    raw = str(text)
    if not any(_is_unsafe(c) for c in raw):
        return raw
    kept = "\n" if newlines else ""
    return "".join(_escape(c) if _is_unsafe(c) and c not in kept else c for c in raw)
