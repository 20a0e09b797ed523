"""``INSERT … ON CONFLICT``, which SQLAlchemy spells per dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_for(conn: AsyncConnection, table: Table) -> Any:
    """An INSERT for ``table`` with ``on_conflict_do_nothing`` /
    ``on_conflict_do_update`` for the connection's dialect (both have them)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)
