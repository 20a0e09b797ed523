from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from crowd.api.query import id_cursor
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


@pytest.mark.parametrize(("query", "after"), [("", ""), ("?cursor=", ""), ("?cursor=prj_0123abcz", "prj_0123abcz")])
def test_an_id_cursor_is_the_id_a_page_starts_after(query: str, after: str) -> None:
    assert id_cursor(make_mocked_request("GET", f"/api/v1/work/projects{query}"), "prj") == after


@pytest.mark.parametrize(
    "bad",
    ["wrk_0123", "prj_", "prj_ABC", "prj_a-b", "prj_" + "a" * 41, "aWQ6MTI", "%E9", "prj_a%00", "prj_a%27%20OR%201"],
)
def test_an_id_cursor_of_another_kind_or_shape_is_refused(bad: str) -> None:
    with pytest.raises(InvalidCursor):
        id_cursor(make_mocked_request("GET", f"/api/v1/work/projects?cursor={bad}"), "prj")
