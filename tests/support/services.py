"""The real PostgreSQL and Redis the integration tests run against.

Both are optional on a newcomer's machine (the tests that need them skip)
and mandatory under ``CI=true`` (those tests fail instead of skipping).
"""

from __future__ import annotations

import os
import uuid

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get("CROWD_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CROWD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(what: str, why: BaseException | str) -> None:
    """Skip, or fail under CI, when a real service is not there."""
    message = f"{what} unavailable: {why!r}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: these tests must run)")
    pytest.skip(message)


def asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def postgres_ready() -> BaseException | None:
    try:
        conn = await asyncpg.connect(asyncpg_dsn(POSTGRES_URL), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return exc
    await conn.close()
    return None


async def redis_ready() -> BaseException | None:
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        return exc
    finally:
        await client.aclose()
    return None


async def create_database(template: str | None = None) -> str:
    """A new empty (or copied) PostgreSQL database; its name."""
    name = f"crowd_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(asyncpg_dsn(POSTGRES_URL))
    try:
        suffix = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{suffix}')
    finally:
        await conn.close()
    return name


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(POSTGRES_URL))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def delete_redis_keys(prefix: str) -> None:
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
