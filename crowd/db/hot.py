"""Statements of the request path, sent to asyncpg without SQLAlchemy's
execution machinery.

A statement run through ``AsyncConnection.execute`` spends about 130 µs of
Python in SQLAlchemy (the compiled-cache lookup, parameter processing, an
execution context, result metadata, two greenlet switches) on top of
asyncpg's own 100 or so, and a next+answer cycle runs a dozen of them: under
load that was a third of a server's CPU. A :class:`Hot` statement is
compiled once per dialect, SQL text, parameter order and bind processors,
and on PostgreSQL each run is one ``fetch`` on the driver connection.

It takes that path only on a connection that :class:`crowd.db.engine.Database`
handed out, whose transaction it runs on the driver itself (see
:meth:`crowd.db.engine.Database._direct`). Anywhere else (SQLite, a test's own ``engine.begin()``, a
CLI), SQLAlchemy runs the statement as usual: SQLAlchemy's asyncpg adapter
sends BEGIN lazily with its first statement, so a statement sent past it
could run outside the caller's transaction.

Rows come back indexable by position and by name (asyncpg's ``Record``;
on the SQLAlchemy path a thin view of the row). Errors come back as
SQLAlchemy's (``IntegrityError`` for SQLSTATE class 23, else ``DBAPIError``,
each with the driver's exception as ``orig``), so callers and
:meth:`Database.retrying` see one kind whichever path ran; a broken connection is
invalidated (the pool drops it) and becomes a 503 ``database-unavailable``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import asyncpg
from sqlalchemy.engine import Dialect, Row
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Executable

from crowd.errors import DatabaseUnavailable

#: The execution option that carries the driver connection of a unit of work
#: whose transaction (or autocommit) is run on the driver.
DRIVER = "crowd_driver"

T = TypeVar("T")

#: Errors that say the connection, not the statement, failed: closed, cut,
#: timed out, or its protocol left mid-operation (``InternalClientError``).
CONNECTION_ERRORS = (asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError, OSError, TimeoutError)


class Record(Protocol):
    """A result row: by position, by column name, or unpacked."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class Columns(Protocol):
    """A row read by column name: a :class:`Record`, or SQLAlchemy's ``RowMapping``."""

    def __getitem__(self, key: str, /) -> Any: ...


class Hot:
    """A statement built once, run with each call's parameters (a mapping by
    bind name, as ``AsyncConnection.execute`` takes)."""

    __slots__ = ("_compiled", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: _Compiled | None = None

    async def rows(self, conn: AsyncConnection, params: Mapping[str, Any]) -> Sequence[Record]:
        driver = _driver_of(conn)
        if driver is None:
            result = await conn.execute(self.statement, params)
            return [_RowView(row) for row in result] if result.returns_rows else []
        compiled = self._compiled or self._compile(conn.dialect)
        args = compiled.arguments(params)
        rows: list[Record] = await on_driver(conn, compiled.sql, args, lambda: driver.fetch(compiled.sql, *args))
        return rows

    async def row(self, conn: AsyncConnection, params: Mapping[str, Any]) -> Record | None:
        """The first row, or None."""
        rows = await self.rows(conn, params)
        return rows[0] if rows else None

    async def value(self, conn: AsyncConnection, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None."""
        rows = await self.rows(conn, params)
        return rows[0][0] if rows else None

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        if "POSTCOMPILE" in compiled.string:
            raise TypeError("a hot statement takes no expanding (IN list) parameters")
        binds = [compiled.binds[name] for name in compiled.positiontup or ()]
        processors = tuple(bind.type.dialect_impl(dialect).bind_processor(dialect) for bind in binds)
        defaults = tuple(_REQUIRED if bind.required else bind.effective_value for bind in binds)
        self._compiled = _Compiled(compiled.string, tuple(bind.key for bind in binds), defaults, processors)
        return self._compiled


_REQUIRED: Any = object()


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    keys: tuple[str, ...]
    """Per positional parameter: the bind's key, looked up in the call's parameters."""
    defaults: tuple[Any, ...]
    """Per positional parameter: its value when the call does not give one (literals, LIMIT),
    or ``_REQUIRED``."""
    processors: tuple[Any, ...]
    """Per positional parameter: the type's bind processor (JSON to text, UTC times), or None."""

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        args = []
        for key, default, process in zip(self.keys, self.defaults, self.processors, strict=True):
            value = params[key] if default is _REQUIRED else params.get(key, default)
            args.append(value if process is None else process(value))
        return args


class _RowView:
    """A SQLAlchemy row, indexable by name as well, as asyncpg's Record is."""

    __slots__ = ("_row",)

    def __init__(self, row: Row[Any]) -> None:
        self._row = row

    def __getitem__(self, key: int | str) -> Any:
        return self._row._mapping[key] if isinstance(key, str) else self._row[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._row)

    def __len__(self) -> int:
        return len(self._row)


def _driver_of(conn: AsyncConnection) -> Any:
    """The driver connection :class:`crowd.db.engine.Database` lent, or None."""
    sync = conn.sync_connection
    return None if sync is None else sync.get_execution_options().get(DRIVER)


async def on_driver(conn: AsyncConnection, sql: str, args: Sequence[Any], call: Callable[[], Awaitable[T]]) -> T:
    """``call`` on ``conn``'s driver connection, its errors as SQLAlchemy's; a
    broken connection is invalidated (the pool drops it) and becomes a 503."""
    try:
        return await call()
    except asyncpg.PostgresError as error:
        raise translated(sql, args, error) from error
    except CONNECTION_ERRORS as error:
        await conn.invalidate()
        raise DatabaseUnavailable() from error


def translated(sql: str, args: Sequence[Any], error: asyncpg.PostgresError) -> DBAPIError:
    """The driver's error as SQLAlchemy would have raised it."""
    kind = IntegrityError if str(error.sqlstate).startswith("23") else DBAPIError
    return kind(sql, tuple(args), error)
