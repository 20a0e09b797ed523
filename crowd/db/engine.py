"""The database: engine set-up per dialect and the unit of work.

``Database.transaction()`` is the one way to write. It commits when the block
ends and rolls back on any exception. ``Database.read()`` is for reads (on
PostgreSQL, statements in autocommit: see its docstring). On PostgreSQL both
run their transaction control on the asyncpg connection (SQLAlchemy sees an
autocommit connection) and lend it to hot statements: ``crowd/db/hot.py``.

Dialect notes, kept here so nothing else needs to know:

- PostgreSQL runs READ COMMITTED; the claim locks with ``FOR UPDATE SKIP
  LOCKED`` (see ``crowd/assignment/store.py``). Deadlocks and serialization
  failures are retried by :meth:`Database.retrying`.
- SQLite has one writer at a time. We take that role explicitly: a write
  transaction holds an in-process lock and opens with ``BEGIN IMMEDIATE``, so
  it owns the write lock from its first statement and never fails half-way
  with "database is locked". Readers use plain ``BEGIN`` and, in WAL mode, run
  beside the writer. (pysqlite's own implicit BEGIN is switched off: it would
  open the transaction only at the first write.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util.concurrency import greenlet_spawn

from crowd.config import Settings
from crowd.db.hot import DRIVER, on_driver
from crowd.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

#: PostgreSQL SQLSTATEs worth retrying: serialization failure, deadlock.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
UNIQUE_VIOLATION = "23505"


class RetryTransaction(Exception):
    """Raised inside a unit of work to start it over (a lost race)."""


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write unit of work: commit on success, roll back on error. On
        PostgreSQL the transaction is run on the driver connection, so that
        hot statements (``crowd/db/hot.py``) can go straight to it."""
        if self._write_lock is None:
            async with _translate_outage(), self._direct() as (conn, driver), _driver_transaction(conn, driver):
                yield conn
            return
        async with self._write_lock, _translate_outage(), self.engine.connect() as conn:
            conn = await conn.execution_options(crowd_write=True)
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A unit of reads. On PostgreSQL it runs without BEGIN and COMMIT:
        under READ COMMITTED each statement reads its own snapshot inside a
        transaction too, so the transaction would only cost two round trips.
        On SQLite it is a transaction: one WAL snapshot for the whole read."""
        if self.is_sqlite:
            async with _translate_outage(), self.engine.connect() as conn, conn.begin():
                yield conn
            return
        async with _translate_outage(), self._direct() as (conn, _):
            yield conn

    @asynccontextmanager
    async def _direct(self) -> AsyncIterator[tuple[AsyncConnection, asyncpg.Connection]]:
        """A pooled PostgreSQL connection in autocommit for SQLAlchemy, which
        then sends no BEGIN or COMMIT of its own, and its driver connection,
        lent to hot statements; the caller runs any transaction on the driver.
        Checked out in one greenlet switch (``AsyncEngine.connect`` and the
        settings would take three: 74-77 µs of CPU per unit of work where
        this takes 37-39)."""
        sync, driver = await greenlet_spawn(_checkout_direct, self.engine.sync_engine)
        conn = AsyncConnection(self.engine, sync)
        try:
            yield conn, driver
        finally:
            await asyncio.shield(conn.close())  # back to the pool even if the request is cancelled

    async def retrying(self, work: Callable[[AsyncConnection], Awaitable[T]], attempts: int = 8) -> T:
        """Run ``work`` in a write transaction, starting over on a lost race:
        a deadlock, a serialization failure or :class:`RetryTransaction`."""
        for attempt in range(attempts):
            try:
                async with self.transaction() as conn:
                    return await work(conn)
            except RetryTransaction:
                pass
            except DBAPIError as exc:
                if sqlstate(exc) not in RETRYABLE_SQLSTATES:
                    raise
            log.debug("retrying transaction", extra={"attempt": attempt + 1})
            await asyncio.sleep(0.001 * 2**attempt)
        raise DatabaseUnavailable("the database stayed too contended to finish the request")

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def sqlstate(exc: DBAPIError) -> str | None:
    """The PostgreSQL SQLSTATE behind a SQLAlchemy error, if any."""
    for candidate in (exc.orig, getattr(exc.orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code:
            return str(code)
    return None


def is_unique_violation(exc: IntegrityError) -> bool:
    """Whether ``exc`` is a unique violation (PostgreSQL: by SQLSTATE; SQLite
    reports no SQLSTATE, only its message)."""
    code = sqlstate(exc)
    if code is not None:
        return code == UNIQUE_VIOLATION
    return "UNIQUE constraint failed" in str(exc.orig)


def _checkout_direct(engine: Engine) -> tuple[Connection, asyncpg.Connection]:
    """In a greenlet: a pooled connection in autocommit, with its driver
    connection as the :data:`DRIVER` execution option."""
    conn = engine.connect()
    try:
        driver: asyncpg.Connection = conn.connection.driver_connection
        conn.execution_options(isolation_level="AUTOCOMMIT", **{DRIVER: driver})
    except BaseException:
        conn.close()
        raise
    return conn, driver


@asynccontextmanager
async def _driver_transaction(conn: AsyncConnection, driver: asyncpg.Connection) -> AsyncIterator[None]:
    """BEGIN and COMMIT on the driver; ROLLBACK if the block raises. A
    connection left in a transaction whose fate is unknown (a COMMIT cut
    short, a failed ROLLBACK) is invalidated: the pool never hands it out again."""

    async def begin() -> asyncpg.transaction.Transaction:
        transaction = driver.transaction()  # raises on a connection found closed
        await transaction.start()
        return transaction

    transaction = await on_driver(conn, "BEGIN", (), begin)
    try:
        yield
        await on_driver(conn, "COMMIT", (), transaction.commit)
    finally:
        if driver.is_in_transaction():  # only with an error in flight, which says what went wrong
            try:
                await transaction.rollback()
            except BaseException as error:
                await conn.invalidate()
                if not isinstance(error, Exception):
                    raise


@asynccontextmanager
async def _translate_outage() -> AsyncIterator[None]:
    """Connection failures become a 503 ``database-unavailable``; so does a
    pool with no connection to lend within ``CROWD_DB_TIMEOUT_SECONDS``
    (SQLAlchemy's own TimeoutError, which is no builtin one: it was a 500)."""
    try:
        yield
    except PoolTimeout as exc:
        raise DatabaseUnavailable("no database connection was free in time") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated or _is_connection_error(exc):
            raise DatabaseUnavailable() from exc
        raise
    except (OSError, TimeoutError) as exc:
        raise DatabaseUnavailable() from exc


def _is_connection_error(exc: DBAPIError) -> bool:
    """Connection exceptions (class 08), insufficient resources such as "too
    many connections" (class 53), and a server shutting down (57P01-57P03):
    the database is there but cannot serve now."""
    code = sqlstate(exc) or ""
    return code.startswith(("08", "53")) or code in {"57P01", "57P02", "57P03"}


def create_database(settings: Settings) -> Database:
    url = settings.database_url
    if url.startswith("sqlite"):
        engine = create_async_engine(url)
        _configure_sqlite(engine)
    else:
        engine = create_async_engine(
            url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_timeout_seconds,
            # No ping on every checkout (a round trip each time): a connection
            # found dead fails its request with a 503 and leaves the pool.
            connect_args=_postgres_connect_args(settings),
        )
    return Database(engine)


def _postgres_connect_args(settings: Settings) -> dict[str, Any]:
    return {
        "timeout": settings.db_timeout_seconds,
        "command_timeout": settings.db_timeout_seconds * 2,
        "server_settings": {"application_name": "crowd"},
    }


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",  # readers never block the writer
            "synchronous=FULL",  # an acknowledged answer survives power loss
            "foreign_keys=ON",
            "busy_timeout=10000",  # other processes (crowd migrate, a CLI) wait, not fail
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("crowd_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
