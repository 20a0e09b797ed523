"""Fixtures shared by every test: a fresh migrated database per test on each
backend, and the real app served over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import random
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from crowd.app import create_app
from crowd.clock import ManualClock
from crowd.config import Settings
from crowd.db.engine import create_database as open_database
from crowd.db.migrate import upgrade
from tests.support import services
from tests.support.crowd import Crowd, served

BACKENDS = ["sqlite", "postgres"]
TEST_SECRET_KEY = base64.b64encode(b"k" * 32).decode()


async def _migrate(url: str) -> None:
    db = open_database(Settings(database_url=url))
    try:
        await upgrade(db)
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "crowd.db"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """One migrated PostgreSQL database; each test gets a copy (CREATE
    DATABASE … TEMPLATE), which is much faster than migrating each time."""
    if (problem := asyncio.run(services.postgres_ready())) is not None:
        services.unavailable("PostgreSQL", problem)
    name = asyncio.run(services.create_database())
    asyncio.run(_migrate(services.with_database(services.POSTGRES_URL, name)))
    yield name
    asyncio.run(services.drop_database(name))


@pytest.fixture(scope="session")
def redis_available() -> None:
    if (problem := asyncio.run(services.redis_ready())) is not None:
        services.unavailable("Redis", problem)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
    return str(request.param)


@pytest.fixture
def settings(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings for a fresh database: a SQLite copy with the in-process
    broker, or a PostgreSQL copy with Redis under a private key prefix.
    (A sync fixture: it may set up the session templates, which run their
    own event loops.)"""
    base = Settings(
        sweep_interval_seconds=3600,
        refit_interval_seconds=3600,
        approve_interval_seconds=3600,
        webhook_interval_seconds=3600,
        worker_rate_limit=0,
        key_rate_limit=0,
        auth_failure_limit=0,  # the tests' callers all come from 127.0.0.1, and some fail on purpose
        webhooks_allow_private=True,  # the tests' webhook receivers listen on localhost
        secret_key=TEST_SECRET_KEY,
    )
    if backend == "sqlite":
        path = tmp_path / "crowd.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield base.model_copy(update={"database_url": f"sqlite+aiosqlite:///{path}"})
        return
    template = request.getfixturevalue("postgres_template")
    request.getfixturevalue("redis_available")
    name = asyncio.run(services.create_database(template))
    prefix = f"crowdtest:{uuid.uuid4().hex[:12]}:"
    try:
        yield base.model_copy(
            update={
                "database_url": services.with_database(services.POSTGRES_URL, name),
                "redis_url": services.REDIS_URL,
                "redis_prefix": prefix,
                # One connection: a request, job or use case that held a
                # connection while it waited for a second one would wait for
                # itself here (a 503 after the pool timeout), as it would
                # under load on the small pools production runs.
                "db_pool_size": 1,
                "db_max_overflow": 0,
            }
        )
    finally:
        asyncio.run(services.drop_database(name))
        asyncio.run(services.delete_redis_keys(prefix))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def client(settings: Settings, clock: ManualClock) -> AsyncIterator[TestClient[object, object]]:
    """The real app behind a real socket on localhost."""
    app = create_app(settings, clock=clock, rng=random.Random(20261127))
    async with served(app) as test_client:
        yield test_client


@pytest.fixture
async def crowd(client: TestClient[object, object], clock: ManualClock) -> Crowd:
    return await Crowd.start(client, clock)
