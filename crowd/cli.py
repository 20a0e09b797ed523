"""The ``crowd`` command line. Settings come from the environment
(``CROWD_`` prefix) and are read here, once."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from aiohttp import web

import crowd.aggregate as aggregate
import crowd.aggregate_kinds as aggregate_kinds
import crowd.simulate as simulate
from crowd.app import create_app
from crowd.clock import SystemClock
from crowd.config import Settings
from crowd.db.engine import create_database
from crowd.db.migrate import upgrade
from crowd.eventloop import LoopUnavailable, name_of, new_event_loop
from crowd.identity import service as identity
from crowd.identity.tokens import Role
from crowd.logs import configure_logging

log = logging.getLogger("crowd")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    result: int = args.run(args)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crowd", description="Crowdsourcing task distribution server.")
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", help="run the server (migrates an embedded SQLite database first)")
    serve.add_argument("--host", help="interface to listen on (default: CROWD_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: CROWD_PORT or 8080)")
    serve.set_defaults(run=_serve)

    demo = commands.add_parser("demo", help="serve a fresh SQLite database with a seeded demo project")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--database", default="crowd-demo.db", help="SQLite file, recreated on every start")
    demo.set_defaults(run=_demo)

    migrate = commands.add_parser("migrate", help="upgrade CROWD_DATABASE_URL to the latest schema")
    migrate.set_defaults(run=_migrate)

    keys = commands.add_parser("keys", help="API keys").add_subparsers(title="actions")
    create_key = keys.add_parser("create", help="create an API key; prints it as the last line")
    create_key.add_argument("--role", required=True, choices=[role.value for role in Role])
    create_key.add_argument("--name", required=True)
    create_key.add_argument("--organization", default="default", help="created if it does not exist")
    create_key.set_defaults(run=_create_key)

    workers = commands.add_parser("workers", help="crowd workers").add_subparsers(title="actions")
    create_worker = workers.add_parser("create", help="create a worker; prints its token as the last line")
    create_worker.add_argument("--name", required=True)
    create_worker.set_defaults(run=_create_worker)

    _add_aggregate(commands)
    _add_simulate(commands)
    return parser


def _add_aggregate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("aggregate", help="consensus labels from an answers CSV, no server needed")
    aggregate.add_arguments(parser)
    aggregate_kinds.add_arguments(parser)
    parser.set_defaults(run=_aggregate)


def _aggregate(args: argparse.Namespace) -> int:
    """Single choice goes to ``crowd.aggregate``; the other answer kinds to ``crowd.aggregate_kinds``."""
    if args.kind == "choice":
        result: int = aggregate.run(args)
        return result
    return aggregate_kinds.run(args)


def _add_simulate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("simulate", help="a simulated crowd against a running server")
    simulate.add_arguments(parser)
    parser.set_defaults(run=simulate.run)


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings()
    overrides = {name: getattr(args, name) for name in ("host", "port") if getattr(args, name, None) is not None}
    return settings.model_copy(update=overrides)


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure_logging(settings.log_level)
    if settings.is_sqlite:
        asyncio.run(_upgrade(settings))
    _run(settings)
    return 0


def _run(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT, then drain: stop accepting, let requests
    in flight finish (up to the shutdown timeout), close resources."""
    try:
        loop = new_event_loop(settings.event_loop)
    except LoopUnavailable as exc:
        raise SystemExit(str(exc)) from exc
    log.info("starting", extra={"host": settings.host, "port": settings.port, "event_loop": name_of(loop)})
    web.run_app(
        create_app(settings),
        loop=loop,
        host=settings.host,
        port=settings.port,
        shutdown_timeout=settings.shutdown_timeout_seconds,
        print=None,
        access_log=None,
    )


def _demo(args: argparse.Namespace) -> int:
    from crowd.demo import reset_database, seed

    settings = Settings().model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{args.database}",
            "redis_url": None,
            "host": args.host,
            "port": args.port,
        }
    )
    configure_logging("WARNING")
    reset_database(args.database)
    asyncio.run(_upgrade(settings))
    print(asyncio.run(seed(settings)), flush=True)
    _run(settings)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    settings = Settings()
    configure_logging(settings.log_level)
    asyncio.run(_upgrade(settings))
    print(f"database is at the latest schema: {_redacted(settings.database_url)}")
    return 0


async def _upgrade(settings: Settings) -> None:
    db = create_database(settings)
    try:
        await upgrade(db)
    finally:
        await db.dispose()


def _create_key(args: argparse.Namespace) -> int:
    async def create() -> str:
        db = create_database(Settings())
        try:
            key, secret = await identity.create_api_key(
                db, SystemClock(), organization=args.organization, role=Role(args.role), name=args.name
            )
        finally:
            await db.dispose()
        return f"created {key.role.value} key {key.id} ({key.name}) for organization {args.organization!r}\n{secret}"

    print(asyncio.run(create()))
    return 0


def _create_worker(args: argparse.Namespace) -> int:
    async def create() -> str:
        db = create_database(Settings())
        try:
            worker, token = await identity.create_worker(db, SystemClock(), name=args.name)
        finally:
            await db.dispose()
        return f"created worker {worker.id} ({worker.name})\n{token}"

    print(asyncio.run(create()))
    return 0


def _redacted(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"


if __name__ == "__main__":
    sys.exit(main())
