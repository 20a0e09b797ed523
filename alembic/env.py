"""Alembic environment.

``crowd migrate`` (``crowd.db.migrate``) hands over an open connection in
``config.attributes["connection"]``. Run as plain ``alembic upgrade head``,
this file opens one itself from ``CROWD_DATABASE_URL``.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from crowd.config import Settings
from crowd.db.engine import create_database
from crowd.db.schema import compared_by_autogenerate, metadata


def run_with(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=sqlite,  # SQLite can't ALTER much
        compare_type=True,
        include_object=compared_by_autogenerate,
    )
    if not sqlite:
        with context.begin_transaction():
            context.run_migrations()
        return
    # SQLite alters a table by building a new one and dropping the old: with
    # foreign keys enforced, dropping a table other rows refer to fails (the
    # drop deletes its rows first). So, as SQLite's own procedure for schema
    # changes says, enforcement is off while migrating (it can only change
    # outside a transaction), every reference is checked before the commit,
    # and enforcement is back on before the connection is used again.
    _sqlite_foreign_keys(connection, enforced=False)
    try:
        with context.begin_transaction():
            context.run_migrations()
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"the migration left rows referring to nothing: {broken[:10]}")
        if connection.in_transaction():  # SQLite's DDL is not transactional to Alembic: commit here
            connection.commit()
    finally:
        if connection.in_transaction():
            connection.rollback()
        _sqlite_foreign_keys(connection, enforced=True)


def _sqlite_foreign_keys(connection: Connection, *, enforced: bool) -> None:
    """Set the pragma on the driver's connection itself: through SQLAlchemy,
    the statement would open a transaction first, where SQLite ignores it."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")
    finally:
        cursor.close()


async def run_standalone() -> None:
    database = create_database(Settings())
    async with database.engine.connect() as conn:
        await conn.run_sync(run_with)
        await conn.commit()
    await database.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_with(connection)
elif context.is_offline_mode():
    raise SystemExit("offline migrations are not supported: run `crowd migrate`")
else:
    asyncio.run(run_standalone())
