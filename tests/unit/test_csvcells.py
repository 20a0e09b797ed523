from __future__ import annotations

import csv
import io

import pytest

from crowd.csvcells import csv_line, neutralize, safe_row


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\ry", '=HYPERLINK("http://x")'])
def test_text_a_spreadsheet_would_evaluate_gets_a_leading_quote(text: str) -> None:
    assert neutralize(text) == "'" + text


@pytest.mark.parametrize("text", ["", "cat", "1", "a=b", " =1", "'=1", "wrk_x", "2026-12-08T00:00:00Z"])
def test_other_text_is_left_as_it_is(text: str) -> None:
    assert neutralize(text) == text


def test_neutralizing_twice_is_neutralizing_once() -> None:
    assert neutralize(neutralize("=1")) == neutralize("=1") == "'=1"


def test_numbers_stay_numbers_and_none_is_empty() -> None:
    assert safe_row(["-cat", -250, -0.5, 0.93, None, "ok"]) == ["'-cat", -250, -0.5, 0.93, "", "ok"]


def test_lines_neutralize_every_text_cell_and_keep_numbers_numeric() -> None:
    text = "".join(csv_line(row) for row in (["task", "amount"], ["=cmd|' /C calc'!A0", -7], ["\r@x", 3.5]))
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [["task", "amount"], ["'=cmd|' /C calc'!A0", "-7"], ["'\r@x", "3.5"]]


def test_a_line_break_inside_a_cell_cannot_start_a_row() -> None:
    """Split at a bare carriage return, ``ok\\r=1+1`` would put ``=1+1`` first
    in a row of its own: such a cell is quoted."""
    line = csv_line(["ok\r=1+1", 'say "hi", then\nleave', 1])
    assert line == '"ok\r=1+1","say ""hi"", then\nleave",1\n'
    assert list(csv.reader(io.StringIO(line, newline=""))) == [["ok\r=1+1", 'say "hi", then\nleave', "1"]]


def test_lines_read_back_as_csv_writes_them() -> None:
    rows = [["a", "b,c", 'd"e', "", 0, -1.25, None], ["x y", "'q", 10**12, 0.1]]
    text = "".join(csv_line(row) for row in rows)
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\n").writerows([["" if c is None else c for c in row] for row in rows])
    assert text == expected.getvalue()
