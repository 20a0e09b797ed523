from __future__ import annotations

import pytest

from crowd.errors import InvalidCursor
from crowd.results.service import decode_cursor, encode_cursor


@pytest.mark.parametrize("last_id", [0, 1, 17, 2**62])
def test_cursors_round_trip(last_id: int) -> None:
    assert decode_cursor(encode_cursor(last_id)) == last_id


def test_no_cursor_starts_at_the_beginning() -> None:
    assert decode_cursor(None) == 0
    assert decode_cursor("") == 0


@pytest.mark.parametrize("bad", ["!!!", "aWQ6", "eHg6MTI", "aWQ6LTE", "aWQ6MTJh", "\u00e9"])
def test_foreign_cursors_are_refused(bad: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(bad)
