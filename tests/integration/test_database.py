"""The unit of work's dialect choices, checked on the real database."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from crowd.config import Settings
from crowd.db.engine import Database, create_database

STATE = text("SELECT state FROM pg_stat_activity WHERE pid = :pid")


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
    db = create_database(settings)
    try:
        assert await _state_between_statements(db, write=False) == "idle"  # no BEGIN, no COMMIT: two round trips
        assert await _state_between_statements(db, write=True) == "idle in transaction"
    finally:
        await db.dispose()
