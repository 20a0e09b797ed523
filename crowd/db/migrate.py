"""Run the Alembic migrations from code (``crowd migrate``, ``crowd serve``
on SQLite, tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic.config import Config
from sqlalchemy.engine import Connection

from alembic import command
from crowd.db.engine import Database

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(connection: Connection | None = None) -> Config:
    ini = ROOT / "alembic.ini"
    if not ini.exists():
        raise RuntimeError(f"alembic.ini not found at {ini}: install crowd from its source tree (pip install -e .)")
    config = Config(str(ini))
    config.attributes["connection"] = connection
    return config


async def upgrade(db: Database, revision: str = "head") -> None:
    await _run(db, lambda conn: command.upgrade(alembic_config(conn), revision))


async def downgrade(db: Database, revision: str) -> None:
    await _run(db, lambda conn: command.downgrade(alembic_config(conn), revision))


async def _run(db: Database, step: Callable[[Connection], None]) -> None:
    async with db.engine.connect() as conn:
        await conn.run_sync(step)
        await conn.commit()
