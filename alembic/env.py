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
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite can't ALTER much
        compare_type=True,
        include_object=compared_by_autogenerate,
    )
    with context.begin_transaction():
        context.run_migrations()


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
