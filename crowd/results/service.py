"""Reading results out: pages with opaque cursors, and whole-project streams
that never hold more than one page in memory."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.db.engine import Database
from crowd.errors import InvalidCursor
from crowd.ids import ProjectId

STREAM_PAGE = 1000


class HasId(Protocol):
    @property
    def id(self) -> int: ...


Row = TypeVar("Row", bound=HasId)
PageQuery = Callable[[AsyncConnection, int, int], Awaitable[Sequence[Row]]]


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = text.partition(":")
        if prefix != "id" or not value.isdigit():
            raise ValueError(text)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor(f"bad cursor {cursor!r}") from exc


async def page(db: Database, query: PageQuery[Row], cursor: str | None, limit: int) -> tuple[Sequence[Row], str | None]:
    """One page after ``cursor`` and the cursor of the next (None at the end)."""
    async with db.read() as conn:
        rows = await query(conn, decode_cursor(cursor), limit + 1)
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1].id)
    return rows, None


async def stream(db: Database, query: PageQuery[Row], cursor: str | None = None) -> AsyncIterator[Row]:
    """Every row after ``cursor``, fetched a page at a time."""
    after = decode_cursor(cursor)
    while True:
        async with db.read() as conn:
            rows = await query(conn, after, STREAM_PAGE)
        for row in rows:
            yield row
        if len(rows) < STREAM_PAGE:
            return
        after = rows[-1].id


def for_project(
    project_id: ProjectId, query: Callable[..., Awaitable[Sequence[Row]]], **filters: object
) -> PageQuery[Row]:
    """Bind a store query to one project (and filters) as a page query."""

    async def bound(conn: AsyncConnection, after: int, limit: int) -> Sequence[Row]:
        return await query(conn, project_id, after, limit, **filters)

    return bound
