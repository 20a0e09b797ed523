"""The ``crowd`` command line. Settings come from the environment
(``CROWD_`` prefix) and are read here, once.

``crowd aggregate`` is the consensus engine alone: it builds its own parser
and never imports the server (aiohttp, SQLAlchemy, pydantic take seconds to
import on a busy machine); the server's commands import it when they run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import crowd.aggregate as aggregate
import crowd.aggregate_kinds as aggregate_kinds

if TYPE_CHECKING:
    from crowd.config import Settings
    from crowd.db.engine import Database

log = logging.getLogger("crowd")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == ["aggregate"]:
        return _aggregate(arguments[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    result: int = args.run(args)
    return result


def _aggregate(argv: Sequence[str]) -> int:
    """``crowd aggregate`` on its own parser, the same one ``crowd --help`` lists."""
    commands = argparse.ArgumentParser(prog="crowd").add_subparsers()
    parser = _add_aggregate(commands)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


def _parser() -> argparse.ArgumentParser:
    from crowd.identity.tokens import Role

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
    list_keys = keys.add_parser("list", help="list API keys (never their secrets), revoked ones included")
    list_keys.add_argument("--organization", help="only this organization's")
    list_keys.set_defaults(run=_list_keys)
    revoke_key = keys.add_parser("revoke", help="revoke an API key: refused within CROWD_AUTH_CACHE_SECONDS")
    revoke_key.add_argument("id", help="the key's id (key_…), as `crowd keys list` shows it")
    revoke_key.set_defaults(run=_revoke_key)

    workers = commands.add_parser("workers", help="crowd workers").add_subparsers(title="actions")
    create_worker = workers.add_parser("create", help="create a worker; prints its token as the last line")
    create_worker.add_argument("--name", required=True)
    create_worker.add_argument(
        "--organization", default="default", help="whose projects it is served; created if it does not exist"
    )
    create_worker.set_defaults(run=_create_worker)
    deactivate = workers.add_parser(
        "deactivate", help="deactivate a worker: its leases are released, its token refused"
    )
    deactivate.add_argument("id", help="the worker's id (wrk_…)")
    deactivate.set_defaults(run=_deactivate_worker)
    reactivate = workers.add_parser("reactivate", help="let a deactivated worker work again")
    reactivate.add_argument("id", help="the worker's id (wrk_…)")
    reactivate.set_defaults(run=_reactivate_worker)

    _add_aggregate(commands)
    _add_simulate(commands)
    return parser


def _add_aggregate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = commands.add_parser("aggregate", help="consensus labels from an answers CSV, no server needed")
    aggregate.add_arguments(parser)
    aggregate_kinds.add_arguments(parser)
    parser.set_defaults(run=_aggregate_kind)
    return parser


def _aggregate_kind(args: argparse.Namespace) -> int:
    """Single choice goes to ``crowd.aggregate``; the other answer kinds to ``crowd.aggregate_kinds``."""
    if args.kind == "choice":
        result: int = aggregate.run(args)
        return result
    return aggregate_kinds.run(args)


def _add_simulate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    import crowd.simulate as simulate

    parser = commands.add_parser("simulate", help="a simulated crowd against a running server")
    simulate.add_arguments(parser)
    parser.set_defaults(run=simulate.run)


def _settings(args: argparse.Namespace) -> Settings:
    from crowd.config import Settings

    settings = Settings()
    overrides = {name: getattr(args, name) for name in ("host", "port") if getattr(args, name, None) is not None}
    return settings.model_copy(update=overrides)


def _serve(args: argparse.Namespace) -> int:
    from crowd.logs import configure_logging

    settings = _settings(args)
    configure_logging(settings.log_level)
    if settings.is_sqlite:
        asyncio.run(_upgrade(settings))
    _run(settings)
    return 0


def _run(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT, then drain: stop accepting, let requests
    in flight finish (up to the shutdown timeout), close resources."""
    from aiohttp import web

    from crowd.app import create_app, metrics_listener
    from crowd.eventloop import LoopUnavailable, name_of, new_event_loop

    try:
        loop = new_event_loop(settings.event_loop)
    except LoopUnavailable as exc:
        raise SystemExit(str(exc)) from exc
    log.info("starting", extra={"host": settings.host, "port": settings.port, "event_loop": name_of(loop)})
    app = create_app(settings)
    if settings.metrics_port:
        app.cleanup_ctx.append(metrics_listener)
    # What the process is made of (modules, the app) lives as long as it does:
    # leave it out of garbage collections. A large body makes enough objects
    # to start a full one, and a full one walking all of it held the event
    # loop for a few hundred milliseconds (tests/integration/test_bounded_requests.py).
    gc.freeze()
    web.run_app(
        app,
        loop=loop,
        host=settings.host,
        port=settings.port,
        shutdown_timeout=settings.shutdown_timeout_seconds,
        print=None,
        access_log=None,
    )


def _demo(args: argparse.Namespace) -> int:
    from crowd.config import Settings
    from crowd.demo import reset_database, seed
    from crowd.logs import configure_logging

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
    from crowd.config import Settings
    from crowd.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level)
    asyncio.run(_upgrade(settings))
    print(f"database is at the latest schema: {_redacted(settings.database_url)}")
    return 0


async def _upgrade(settings: Settings) -> None:
    from crowd.db.engine import create_database
    from crowd.db.migrate import upgrade

    db = create_database(settings)
    try:
        await upgrade(db)
    finally:
        await db.dispose()


def _create_key(args: argparse.Namespace) -> int:
    from crowd.clock import SystemClock
    from crowd.config import Settings
    from crowd.db.engine import create_database
    from crowd.identity import service as identity
    from crowd.identity.tokens import Role

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
    from crowd.clock import SystemClock
    from crowd.config import Settings
    from crowd.db.engine import create_database
    from crowd.identity import service as identity

    async def create() -> str:
        db = create_database(Settings())
        try:
            worker, token = await identity.create_worker(
                db, SystemClock(), name=args.name, organization=args.organization
            )
        finally:
            await db.dispose()
        return f"created worker {worker.id} ({worker.name}) for organization {args.organization!r}\n{token}"

    print(asyncio.run(create()))
    return 0


def _deactivate_worker(args: argparse.Namespace) -> int:
    from crowd.assignment.service import Engine
    from crowd.broker import InProcessBroker
    from crowd.clock import SystemClock
    from crowd.workforce import service as workforce

    async def deactivate(db: Database) -> str:
        # No broker here: the released slots wake no one, and waiting
        # workers find them when their long-polls time out (seconds).
        engine = Engine(db, InProcessBroker(), SystemClock())
        done = await workforce.deactivate_worker(engine, None, args.id)
        return f"deactivated worker {args.id} ({done.member.worker.name}); {done.released} live lease(s) released"

    return _admin(deactivate)


def _reactivate_worker(args: argparse.Namespace) -> int:
    from crowd.workforce import service as workforce

    async def reactivate(db: Database) -> str:
        member = await workforce.reactivate_worker(db, None, args.id)
        return f"reactivated worker {args.id} ({member.worker.name})"

    return _admin(reactivate)


def _list_keys(args: argparse.Namespace) -> int:
    from crowd.identity import service as identity

    async def listing(db: Database) -> str:
        organization = None
        if args.organization is not None:
            organization = await identity.organization_id(db, args.organization)
            if organization is None:
                return f"no organization {args.organization!r}"
        names = await identity.organization_names(db)
        keys = await identity.list_api_keys(db, organization, "", 1_000_000)
        lines = ["id\trole\tname\torganization\tcreated\trevoked"]
        for key in keys:
            revoked = key.revoked_at.isoformat() if key.revoked_at else "-"
            when = key.created_at.isoformat()
            lines.append(f"{key.id}\t{key.role.value}\t{key.name}\t{names[key.organization_id]}\t{when}\t{revoked}")
        return "\n".join(lines)

    return _admin(listing)


def _revoke_key(args: argparse.Namespace) -> int:
    from crowd.clock import SystemClock
    from crowd.identity import service as identity

    async def revoke(db: Database) -> str:
        key = await identity.revoke_api_key(db, SystemClock(), None, args.id)
        return f"revoked {key.role.value} key {key.id} ({key.name})"

    return _admin(revoke)


def _admin(action: Callable[[Database], Awaitable[str]]) -> int:
    """Run an administrator's action on CROWD_DATABASE_URL (every
    organization's objects are in reach); 1 with the reason on stderr when
    the id names nothing."""
    from crowd.config import Settings
    from crowd.db.engine import create_database
    from crowd.errors import NotFound

    async def run() -> str:
        db = create_database(Settings())
        try:
            return await action(db)
        finally:
            await db.dispose()

    try:
        print(asyncio.run(run()))
    except NotFound as exc:
        print(exc.detail, file=sys.stderr)
        return 1
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
