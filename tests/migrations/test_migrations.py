"""The migrations produce exactly the schema the code declares, and walk
down and up again cleanly, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from crowd.config import Settings
from crowd.db.engine import Database, create_database
from crowd.db.migrate import downgrade, upgrade
from crowd.db.schema import compared_by_autogenerate, metadata
from tests.support import services


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    request.applymarker(pytest.mark.postgres)
    if (problem := asyncio.run(services.postgres_ready())) is not None:
        services.unavailable("PostgreSQL", problem)
    name = asyncio.run(services.create_database())
    yield services.with_database(services.POSTGRES_URL, name)
    asyncio.run(services.drop_database(name))


def schema_differences(conn: Connection) -> list[Any]:
    opts = {"compare_type": True, "compare_server_default": True, "include_object": compared_by_autogenerate}
    context = MigrationContext.configure(conn, opts=opts)
    return list(compare_metadata(context, metadata))


def table_names(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def inspect_with(db: Database, fn: Any) -> Any:
    async with db.engine.connect() as conn:
        return await conn.run_sync(fn)


async def test_the_migrated_schema_is_the_declared_one(empty_database: str) -> None:
    db = create_database(Settings(database_url=empty_database))
    try:
        await upgrade(db)
        assert await inspect_with(db, schema_differences) == []
    finally:
        await db.dispose()


async def test_the_claim_index_is_partial_and_ordered(empty_database: str) -> None:
    """Autogenerate cannot compare expression indexes on SQLite, so read the
    index definition back from the database on both."""
    db = create_database(Settings(database_url=empty_database))
    try:
        await upgrade(db)
        async with db.read() as conn:
            if db.is_sqlite:
                query = "SELECT sql FROM sqlite_master WHERE name = 'ix_tasks_claim'"
            else:
                query = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_tasks_claim'"
            definition = " ".join((await conn.execute(text(query))).scalar_one().split()).lower()
    finally:
        await db.dispose()
    for part in ("project_id", "priority desc", "answer_count desc", "id", "where", "'open'", "not is_gold"):
        assert part in definition, definition


async def test_down_and_up_again(empty_database: str) -> None:
    db = create_database(Settings(database_url=empty_database))
    try:
        await upgrade(db)
        await downgrade(db, "base")
        assert await inspect_with(db, table_names) <= {"alembic_version"}
        await upgrade(db)
        assert await inspect_with(db, schema_differences) == []
        assert set(metadata.tables) <= await inspect_with(db, table_names)
    finally:
        await db.dispose()
