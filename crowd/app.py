"""The application factory: every resource is created here, inside cleanup
contexts, and closed in reverse order on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from crowd import metrics
from crowd.api import (
    consensus,
    events,
    gold,
    label_studio,
    machine,
    openapi,
    operator,
    payments,
    platform,
    quality,
    worker,
)
from crowd.api import web as pages
from crowd.api.auth import AUTH_CACHE, PrincipalCache
from crowd.api.bodies import bounded_bodies
from crowd.api.http import problem, reply
from crowd.api.keys import BROKER, CLOCK, DATABASE, ENGINE, RESOLVER, SEALER, SETTINGS
from crowd.api.middleware import problems, request_context
from crowd.assignment.service import Engine, open_task_count, sweep_expired
from crowd.broker import open_broker
from crowd.clock import Clock, SystemClock
from crowd.config import Settings
from crowd.db.engine import create_database
from crowd.errors import ServiceUnavailable
from crowd.inference.service import refit_due
from crowd.jobs import every, run_as_leader
from crowd.outbound import sender, system_resolve
from crowd.payments.service import approve_due
from crowd.webhooks.ports import Resolve
from crowd.webhooks.sealing import sealer_for
from crowd.webhooks.service import Delivery, deliver_due

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    resolver: Resolve | None = None,
) -> web.Application:
    app = web.Application(
        middlewares=[request_context, pages.security_headers, problems, bounded_bodies],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    app[SEALER] = sealer_for(settings)
    app[RESOLVER] = resolver or system_resolve
    app[AUTH_CACHE] = PrincipalCache(settings.auth_cache_seconds, app[CLOCK])
    app.cleanup_ctx.extend(
        [_database, _broker, _engine(rng or random.Random()), _sweeper, _approver, _refitter, _webhooks]
    )
    app.on_shutdown.append(_drain)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.add_routes(platform.routes)
    app.add_routes(operator.routes)
    app.add_routes(worker.routes)
    app.add_routes(consensus.routes)
    app.add_routes(gold.routes)
    app.add_routes(payments.routes)
    app.add_routes(events.routes)
    app.add_routes(label_studio.routes)
    app.add_routes(quality.routes)
    app.add_routes(machine.routes)
    app.add_routes(pages.routes)
    app.add_routes(openapi.routes)
    app[openapi.DOCUMENT] = openapi.document(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    app[DATABASE] = create_database(app[SETTINGS])
    yield
    await app[DATABASE].dispose()


async def _broker(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[BROKER] = await open_broker(settings.redis_url, prefix=settings.redis_prefix, wait=settings.redis_wait_seconds)
    yield
    await app[BROKER].close()


def _engine(rng: random.Random) -> Callable[[web.Application], AsyncIterator[None]]:
    async def engine(app: web.Application) -> AsyncIterator[None]:
        app[ENGINE] = Engine(app[DATABASE], app[BROKER], app[CLOCK], rng)
        yield

    return engine


async def _drain(app: web.Application) -> None:
    """On shutdown, after the listening socket has closed and before the wait
    for requests in flight: long-polls give up waiting (the worker polls
    again, on another process), so draining ends as soon as real work does."""
    if ENGINE in app:
        app[ENGINE].draining.set()


async def _sweeper(app: web.Application) -> AsyncIterator[None]:
    """Release expired leases in the background, one process at a time."""
    engine = app[ENGINE]

    async def sweep() -> None:
        await sweep_expired(engine)

    interval = app[SETTINGS].sweep_interval_seconds
    task = asyncio.create_task(run_as_leader(app[BROKER], "sweeper", interval, sweep))
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _approver(app: web.Application) -> AsyncIterator[None]:
    """Approve rewards whose review period is over, one process at a time."""
    db, clock = app[DATABASE], app[CLOCK]
    interval = app[SETTINGS].approve_interval_seconds
    task = asyncio.create_task(run_as_leader(app[BROKER], "approver", interval, lambda: approve_due(db, clock)))
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _refitter(app: web.Application) -> AsyncIterator[None]:
    """Refit projects with new answers in the background. Every process runs
    this loop; a per-project lock lets one process refit each project."""
    db, broker, clock = app[DATABASE], app[BROKER], app[CLOCK]
    task = asyncio.create_task(every(app[SETTINGS].refit_interval_seconds, lambda: refit_due(db, broker, clock)))
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _webhooks(app: web.Application) -> AsyncIterator[None]:
    """Deliver due webhook events, one process at a time."""
    settings = app[SETTINGS]
    delivery = Delivery(
        app[DATABASE],
        sender(),
        app[RESOLVER],
        app[SEALER],
        app[CLOCK],
        random.Random(),
        settings.webhooks_allow_private,
        settings.webhook_timeout_seconds,
    )
    interval = settings.webhook_interval_seconds
    task = asyncio.create_task(run_as_leader(app[BROKER], "webhooks", interval, lambda: deliver_due(delivery)))
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return reply({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database and the broker answer."""
    try:
        await request.app[DATABASE].ping()
        await request.app[BROKER].ping()
    except ServiceUnavailable as exc:
        return problem(exc)
    return reply({"status": "ready"})


def metrics_app(app: web.Application) -> web.Application:
    """The application of the metrics listener: ``GET /metrics`` and nothing
    else, with ``app``'s figures (its database counts the open tasks)."""

    async def page(request: web.Request) -> web.Response:
        """This process's metrics in Prometheus text format."""
        with contextlib.suppress(ServiceUnavailable):  # the database is down: keep the last figure
            metrics.OPEN_TASKS.set(await open_task_count(app[DATABASE]))
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    listener = web.Application()
    listener.router.add_get("/metrics", page)
    return listener


async def metrics_listener(app: web.Application) -> AsyncIterator[None]:
    """Serve ``/metrics`` on ``CROWD_METRICS_HOST:CROWD_METRICS_PORT`` for as
    long as ``app`` runs (``crowd serve`` adds this; a port it cannot bind
    stops the start, as the API's own would)."""
    settings = app[SETTINGS]
    runner = web.AppRunner(metrics_app(app), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.metrics_host, settings.metrics_port).start()
        log.info("metrics", extra={"host": settings.metrics_host, "port": settings.metrics_port})
        yield
    finally:
        await runner.cleanup()
