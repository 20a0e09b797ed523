"""The unit of work's dialect choices, checked on the real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.config import Settings
from crowd.db.engine import Database, create_database, is_unique_violation
from crowd.db.hot import Hot
from crowd.db.schema import organizations
from crowd.db.types import UtcDateTime
from crowd.errors import DatabaseBusy, DatabaseUnavailable

STATE = text("SELECT state FROM pg_stat_activity WHERE pid = :pid")


@asynccontextmanager
async def _database(settings: Settings, *, connections: int | None = None) -> AsyncIterator[Database]:
    """A database of its own for the test; with ``connections``, a pool of exactly that many."""
    if connections is not None:
        settings = settings.model_copy(update={"db_pool_size": connections, "db_max_overflow": 0})
    db = create_database(settings)
    try:
        yield db
    finally:
        await db.dispose()


async def _state_between_statements(db: Database, write: bool) -> str:
    """What PostgreSQL says a unit of work's session is doing between two of
    its statements, seen from another session."""
    unit = db.transaction() if write else db.read()
    async with unit as conn, db.engine.connect() as observer:
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        state: str = (await observer.execute(STATE, {"pid": pid})).scalar_one()
        await conn.execute(text("SELECT 1"))
    return state


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_reads_on_postgres_hold_no_transaction_and_writes_do(settings: Settings) -> None:
    async with _database(settings, connections=2) as db:  # the unit of work's and the observer's
        assert await _state_between_statements(db, write=False) == "idle"  # no BEGIN, no COMMIT: two round trips
        assert await _state_between_statements(db, write=True) == "idle in transaction"


# --- hot statements (crowd/db/hot.py) ------------------------------------------------------------

INSERT_ORGANIZATION = Hot(
    insert(organizations)
    .values(id=bindparam("id"), name=bindparam("name"), created_at=bindparam("created_at", type_=UtcDateTime()))
    .returning(organizations.c.id, organizations.c.name, organizations.c.created_at)
)
ORGANIZATIONS_NAMED = text("SELECT count(*) FROM organizations WHERE name LIKE 'hot %'")


def _organization(name: str) -> dict[str, object]:
    return {"id": f"org_{name.replace(' ', '_')}", "name": name, "created_at": datetime(2026, 1, 2, 3, tzinfo=UTC)}


async def _insert_then_fail(unit: AbstractAsyncContextManager[AsyncConnection], name: str) -> None:
    async with unit as conn:
        await INSERT_ORGANIZATION.rows(conn, _organization(name))
        raise RuntimeError("the unit of work fails after its insert")


async def _insert_twice(db: Database, name: str) -> None:
    async with db.transaction() as conn:
        await INSERT_ORGANIZATION.rows(conn, _organization(name))
        await INSERT_ORGANIZATION.rows(conn, _organization(name))  # the same id and name


async def _insert_after_cut(db: Database, killer: Database, name: str) -> None:
    async with db.transaction() as conn:
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with killer.transaction() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await INSERT_ORGANIZATION.rows(conn, _organization(name))


async def _named(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(ORGANIZATIONS_NAMED)).scalar_one())


async def test_a_hot_statement_returns_rows_by_name_and_by_position(settings: Settings) -> None:
    async with _database(settings) as db:
        async with db.transaction() as conn:
            row = await INSERT_ORGANIZATION.row(conn, _organization("hot one"))
            assert row is not None
            assert row["name"] == row[1] == "hot one"
            assert row["created_at"] == datetime(2026, 1, 2, 3, tzinfo=UTC)  # UTC-aware on both backends
            assert await INSERT_ORGANIZATION.value(conn, _organization("hot two")) == "org_hot_two"
        assert await _named(db) == 2


async def test_a_failed_unit_of_work_keeps_nothing_and_its_error_is_sqlalchemys(settings: Settings) -> None:
    async with _database(settings) as db:
        with pytest.raises(IntegrityError) as raised:
            await _insert_twice(db, "hot twin")
        assert is_unique_violation(raised.value)
        assert await _named(db) == 0  # the first insert was rolled back with the second
        async with db.transaction() as conn:  # and the connection went back to the pool clean
            await INSERT_ORGANIZATION.rows(conn, _organization("hot twin"))
        assert await _named(db) == 1


async def test_a_hot_statement_stays_in_a_transaction_it_did_not_open(settings: Settings) -> None:
    """Outside ``Database`` (a test's, a CLI's own ``engine.begin()``) it runs
    through SQLAlchemy, so it cannot slip past the lazily sent BEGIN."""
    async with _database(settings) as db:
        with pytest.raises(RuntimeError):
            await _insert_then_fail(db.engine.begin(), "hot rolled back")
        assert await _named(db) == 0


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_unit_of_work_that_fails_returns_its_connection_outside_any_transaction(settings: Settings) -> None:
    async with _database(settings, connections=1) as db:
        with pytest.raises(RuntimeError):
            await _insert_then_fail(db.transaction(), "hot failed")
        async with db.read() as conn:  # the pool's one connection again
            assert not (await conn.get_raw_connection()).driver_connection.is_in_transaction()
        assert await _named(db) == 0


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_connection_cut_mid_transaction_is_an_outage_and_leaves_the_pool(settings: Settings) -> None:
    async with _database(settings, connections=1) as db, _database(settings) as killer:
        with pytest.raises(DatabaseUnavailable):
            await _insert_after_cut(db, killer, "hot cut")
        async with db.transaction() as conn:  # a new connection: the dead one was dropped
            await INSERT_ORGANIZATION.rows(conn, _organization("hot after"))
        assert await _named(db) == 1


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_pool_that_stays_empty_is_a_busy_503_not_an_outage(settings: Settings) -> None:
    settings = settings.model_copy(update={"db_timeout_seconds": 0.2})
    async with _database(settings, connections=1) as db, db.read():
        with pytest.raises(DatabaseBusy) as caught:
            async with db.read():
                pass
    assert caught.value.status == 503
    assert caught.value.problem()["retry_after"] == 1
