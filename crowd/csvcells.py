"""CSV the server writes, safe to open in a spreadsheet.

A spreadsheet evaluates a cell that begins with ``=``, ``+``, ``-`` or
``@`` as a formula (and some treat a leading tab or carriage return the
same way), so a task's external id or a label reading ``=HYPERLINK(…)``
would run in an operator's spreadsheet (CSV or formula injection, OWASP).
Every text cell of an export goes through :func:`neutralize`, which puts a
single quote before such a text, as OWASP advises: a spreadsheet shows the
text as it was, and a program reading the CSV sees the quote. Numbers the
server writes (amounts, confidences, counts) are passed as numbers and
stay numbers, even when negative: only text can carry a formula in.
"""

from __future__ import annotations

from collections.abc import Iterable

#: The first characters that make a spreadsheet evaluate a cell.
FORMULA_STARTS = frozenset("=+-@\t\r")
#: Characters that a CSV field can hold only between double quotes.
_QUOTED = frozenset(',"\r\n')

Cell = str | int | float | None


def neutralize(text: str) -> str:
    """``text`` as a cell no spreadsheet evaluates: a leading quote when it
    begins like a formula (a text neutralized once is left as it is)."""
    return "'" + text if text[:1] in FORMULA_STARTS else text


def safe_row(cells: Iterable[Cell]) -> list[str | int | float]:
    """One CSV line's cells: text neutralized, numbers as they are, None empty."""
    return [neutralize(cell) if isinstance(cell, str) else ("" if cell is None else cell) for cell in cells]


def csv_line(cells: Iterable[Cell]) -> str:
    """One CSV line (RFC 4180 fields, ``\\n`` at the end) of :func:`safe_row`.

    Written here rather than by ``csv.writer``, which with a ``\\n`` line end
    leaves a carriage return inside a field unquoted: a reader that breaks
    lines there would start a new row with the rest of the text, whose first
    cell was never neutralized."""
    return ",".join(_field(cell) for cell in safe_row(cells)) + "\n"


def _field(cell: str | int | float) -> str:
    text = cell if isinstance(cell, str) else str(cell)
    if _QUOTED.isdisjoint(text):
        return text
    return '"' + text.replace('"', '""') + '"'
