"""The migrations produce exactly the schema the code declares, and walk
down and up again cleanly, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.engine import Connection

from crowd.api.models import PROJECT_DEFAULTS
from crowd.config import Settings
from crowd.db.engine import Database, create_database
from crowd.db.migrate import alembic_config, downgrade, upgrade
from crowd.db.schema import assignments, compared_by_autogenerate, metadata, projects, tasks, workers
from crowd.db.schema import organizations as organizations_table
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


async def test_sqlite_enforces_foreign_keys_again_after_migrating(tmp_path: Path) -> None:
    """Migrations run with SQLite's foreign keys off (a rebuilt table could
    not be dropped otherwise); the pooled connection must not keep it so."""
    db = create_database(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'fk.db'}"))
    try:
        await upgrade(db)
        async with db.read() as conn:
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
    finally:
        await db.dispose()


# --- 0011: every existing worker gets an organization ----------------------------------

WORKFORCES = "0011"


def before_workforces() -> str:
    """The revision 0011 follows, whatever it is chained to."""
    down = ScriptDirectory.from_config(alembic_config()).get_revision(WORKFORCES).down_revision
    assert isinstance(down, str)
    return down


async def _seed_history(db: Database, organizations: list[str], worked: dict[str, list[str]]) -> None:
    """At the schema before 0011: the organizations, one project of each
    with three tasks, and workers with an assignment per organization named
    in ``worked`` (in that order)."""
    now = datetime(2026, 12, 1, tzinfo=UTC)
    settings = {**PROJECT_DEFAULTS, "max_overlap": 3, "labels": ["a", "b"], "created_at": now, "updated_at": now}
    async with db.transaction() as conn:
        for k, org in enumerate(organizations):
            await conn.execute(insert(organizations_table).values(id=f"org_{k}", name=org, created_at=now))
            project = {**settings, "id": f"prj_{k}", "organization_id": f"org_{k}", "name": org}
            await conn.execute(insert(projects).values(**project))
            for i in range(3):
                task = {"project_id": f"prj_{k}", "external_id": f"{org}-{i}", "data": {}, "created_at": now}
                await conn.execute(insert(tasks).values(**task, target_overlap=3))
        for worker, orgs in worked.items():
            values = {"id": worker, "name": worker, "token_hash": worker.ljust(64, "0"), "created_at": now}
            await conn.execute(insert(workers).values(**values))
            for n, org in enumerate(orgs):
                task = (
                    await conn.execute(
                        select(tasks.c.id, tasks.c.project_id).where(tasks.c.external_id == f"{org}-{n}")
                    )
                ).one()
                lease = {"public_id": f"asg_{worker}_{n}", "project_id": task.project_id, "task_id": task.id}
                at = now + timedelta(minutes=n)
                await conn.execute(
                    insert(assignments).values(**lease, worker_id=worker, issued_at=at, expires_at=at, status="expired")
                )


async def _organizations_of_workers(db: Database) -> dict[str, str]:
    async with db.read() as conn:
        query = select(workers.c.id, organizations_table.c.name).join(
            organizations_table, organizations_table.c.id == workers.c.organization_id
        )
        return {str(worker): str(name) for worker, name in await conn.execute(query)}


async def test_existing_workers_get_the_organization_they_worked_for(empty_database: str) -> None:
    db = create_database(Settings(database_url=empty_database))
    try:
        await upgrade(db, before_workforces())
        holding = "unassigned workers (migration 0011)"
        await _seed_history(
            db,
            ["acme", "evil", holding],  # a tenant already called what the migration would call its own
            {
                "wrk_acme": ["acme", "acme"],
                "wrk_mostly_evil": ["acme", "evil", "evil"],
                "wrk_tie": ["evil", "acme"],  # one each: the first one's
                "wrk_idle": [],  # could be anyone's: no guess
            },
        )
        await upgrade(db, WORKFORCES)
        assert await _organizations_of_workers(db) == {
            "wrk_acme": "acme",
            "wrk_mostly_evil": "evil",
            "wrk_tie": "evil",
            "wrk_idle": f"{holding} 2",
        }
        await upgrade(db)  # and the revisions after it take the data as it is
        assert await inspect_with(db, schema_differences) == []
    finally:
        await db.dispose()


@pytest.mark.parametrize(("organizations", "home"), [(["acme"], "acme"), ([], "default")])
async def test_idle_workers_of_a_single_tenant_database_stay_served(
    empty_database: str, organizations: list[str], home: str
) -> None:
    db = create_database(Settings(database_url=empty_database))
    try:
        await upgrade(db, before_workforces())
        await _seed_history(db, organizations, {"wrk_idle": [], "wrk_busy": organizations[:1]})
        await upgrade(db, WORKFORCES)
        assert set((await _organizations_of_workers(db)).values()) == {home}
    finally:
        await db.dispose()
