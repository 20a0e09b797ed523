"""``INSERT … ON CONFLICT``, which SQLAlchemy spells per dialect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Executable

from crowd.db.hot import Hot


def insert_for(conn: AsyncConnection, table: Table) -> Any:
    """An INSERT for ``table`` with ``on_conflict_do_nothing`` /
    ``on_conflict_do_update`` for the connection's dialect (both have them)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


class PerDialect:
    """A :class:`~crowd.db.hot.Hot` statement built once per dialect, for a
    hot path's upsert.

    Hot statements are built once, with bind parameters, and run with the
    values of each call: a statement built per call pays for its construction
    and its cache key on every run (building them once took an answer's
    Python time from about 6 ms to 3.4). ``build`` gets the dialect's
    ``insert`` and names every column it writes in ``values()``, with bind
    parameters (a hot statement is compiled without the call's values).
    """

    def __init__(self, build: Callable[[Callable[[Table], Any]], Executable]) -> None:
        self._build = build
        self._built: dict[str, Hot] = {}

    def __call__(self, conn: AsyncConnection) -> Hot:
        name = conn.dialect.name
        statement = self._built.get(name)
        if statement is None:
            dialect = postgresql if name == "postgresql" else sqlite
            statement = self._built[name] = Hot(self._build(dialect.insert))
        return statement
