"""Assignment benchmark: next+answer cycles against ``crowd serve`` and against the database's own ceiling.

    .venv/bin/python bench/assignment.py [--quick] [--json bench/results/assignment.json]

Needs PostgreSQL (``--postgres``, default postgresql://postgres@127.0.0.1:5432,
a role that may CREATE DATABASE) and Redis (``--redis``). In one run:

1. **Ceiling.** The statements a claim and an answer run, captured from the
   store functions themselves (``crowd/assignment/store.py``: the project with
   the worker's standing and lease, ``_PG_CLAIM``; the assignment and its
   task locked with the project, the answer inserted with its assignment
   closed; ``crowd/payments/store.py``: the reward's posting;
   ``crowd/inference/store.py``: the worker-stats upsert, the task's votes,
   its posterior with the answer counted; on the answer that completes its
   task, ``crowd/assignment/completion.py``: the ``task.completed`` event, the
   batch check; rewards are approved later, by the approver), replayed with
   asyncpg by ``--workers`` coroutines over a pool, one transaction per claim
   and per answer: no HTTP, no service layer. A first run is not measured;
   then one run per pool size, and the best is the ceiling.
2. **End to end.** Two ``crowd serve`` processes on PostgreSQL + Redis,
   holding between them as many connections as the ceiling's best pool
   (``CROWD_DB_POOL_SIZE``), the same number of simulated workers (half on
   each process, each over its own keep-alive connection: ``keepalive.py``)
   asking ``GET /api/v1/work/next?wait=0`` and answering, as fast as they
   can: cycles per second and next-task latency, as a share of the ceiling.
   Then the same with the servers on asyncio's own event loop, as a share
   of uvloop's; then one process on SQLite, as a share of PostgreSQL.
3. **Where the time goes.** One worker, in-process through the service layer,
   every SQL statement timed: statements per claim and per answer, time in
   the database against time in Python.
4. **Scale.** The claim (``_PG_CLAIM``, and the two claim statements
   together) on a project of 10k tasks / 30k assignments and, in another
   database, of 1M tasks / 3M assignments, bulk-loaded with ``INSERT …
   SELECT generate_series`` (60% of the tasks completed, the open ones with
   0 to 3 answers, 100 live leases at the front of the claim order); the
   median of runs alternating between the two (each rolled back) and
   ``EXPLAIN (ANALYZE, BUFFERS)`` at both sizes.

Every database it creates is dropped at the end, and its Redis keys deleted.
The load generator shares the machine with the servers and the database;
the CPU each used is reported next to the figures. This process (the
ceiling's asyncpg client and the load generator) and the servers run on
the same event loop, uvloop where it is installed (``crowd/eventloop.py``),
but for the one run that puts the servers on asyncio's. Prints a table,
the plans, then the same figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import numpy as np
from redis.asyncio import Redis
from sqlalchemy import event
from sqlalchemy.engine import Dialect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from keepalive import KeepAlive
from report import emit

from crowd.assignment import answering, completion
from crowd.assignment import service as assignment_service
from crowd.assignment import store as assignment_store
from crowd.assignment.service import Engine
from crowd.broker import InProcessBroker
from crowd.clock import SystemClock
from crowd.config import Settings
from crowd.db.engine import Database, create_database
from crowd.eventloop import name_of
from crowd.eventloop import run as run_on_loop
from crowd.identity import service as identity
from crowd.identity.models import Worker
from crowd.identity.tokens import Role
from crowd.ids import AssignmentId, ProjectId, WorkerId, new_id
from crowd.inference import store as inference_store
from crowd.payments import service as payments
from crowd.payments import store as payments_store
from crowd.projects import service as projects
from crowd.projects.models import Project

TARGETS = {"share_of_ceiling": 0.5, "next_p99_ms": 100.0, "claim_scale_ratio": 1.5, "routing_loss": 0.10}
LABELS = ["cat", "dog", "other"]
OVERLAP = 3
BUSY_LEASES = 100
"""Live leases at the front of the claim order in the scale test: the claim skips them, as under load."""
SCALE_WORKERS = 2000
THINK_SECONDS = 5.0
"""The second end-to-end run: workers who spend 2.5 to 7.5 s on a task, so the load is what 100 people offer."""


@dataclass(frozen=True)
class Plan:
    duration: float
    warmup: float
    pool_sizes: tuple[int, ...]
    profile_cycles: int
    scale_sizes: tuple[int, int]
    claim_repeats: int
    e2e_tasks: int

    @classmethod
    def of(cls, quick: bool) -> Plan:
        if quick:
            return cls(4.0, 1.0, (10, 40), 40, (10_000, 100_000), 30, 10_000)
        return cls(20.0, 3.0, (10, 20, 40), 200, (10_000, 1_000_000), 100, 20_000)


# --- PostgreSQL, Redis and server processes ------------------------------------------------------


class Postgres:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.created: list[str] = []

    def dsn(self, database: str = "postgres") -> str:
        return f"{self.base}/{database}"

    def sqlalchemy_url(self, database: str) -> str:
        return self.dsn(database).replace("postgresql://", "postgresql+asyncpg://", 1)

    async def create(self, label: str) -> str:
        name = f"crowd_bench_{label}_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(self.dsn())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self.created.append(name)
        crowd_cli({"CROWD_DATABASE_URL": self.sqlalchemy_url(name)}, "migrate")
        return name

    async def drop_all(self) -> None:
        conn = await asyncpg.connect(self.dsn())
        try:
            for name in self.created:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    async def version(self) -> str:
        conn = await asyncpg.connect(self.dsn())
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()


def crowd_cli(env: dict[str, str], *args: str) -> str:
    """Run ``python -m crowd ARGS``; its last line of output."""
    done = subprocess.run(
        [sys.executable, "-m", "crowd", *args],
        env={**os.environ, "CROWD_LOG_LEVEL": "WARNING", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


@dataclass
class Server:
    env: dict[str, str]
    port: int
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=lambda: Path(tempfile.mkstemp(prefix="crowd-bench-", suffix=".log")[1]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> None:
        env = {**os.environ, **self.env, "CROWD_PORT": str(self.port), "CROWD_HOST": "127.0.0.1"}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "crowd", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log
            )

    async def start(self) -> None:
        self.spawn()
        assert self.process is not None
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                if self.process.poll() is not None:
                    raise RuntimeError(f"crowd serve exited: {self.log.read_text()[-2000:]}")
                try:
                    async with session.get(f"{self.url}/readyz") as reply:
                        if reply.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"crowd serve on port {self.port} not ready")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.unlink(missing_ok=True)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def servers(envs: list[dict[str, str]]) -> AsyncIterator[list[Server]]:
    running = [Server(env, free_port()) for env in envs]
    try:
        await asyncio.gather(*(server.start() for server in running))
        yield running
    finally:
        for server in running:
            server.stop()


# --- CPU accounting: who used the two cores ------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def processes_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@asynccontextmanager
async def meter(load: Load, groups: dict[str, Callable[[], list[int]]], dsn: str | None = None) -> AsyncIterator[None]:
    """Over the block: cores used by each group of processes (1.0 = one core
    busy); with ``dsn``, also the CPU of that database's sessions, its
    commits, rollbacks and deadlocks, and what the servers' sessions were doing."""
    groups = dict(groups)
    stop, watcher, conn, sessions = asyncio.Event(), None, None, set()
    if dsn:
        conn = await asyncpg.connect(dsn)
        sessions = await database_sessions(conn)
        groups["postgres_this_database"] = lambda: sorted(sessions)
        before_db = await conn.fetchrow(DATABASE_SQL)
        watcher = asyncio.create_task(sample_activity(dsn, stop, load.activity))

    def sample() -> dict[str, float]:
        return {name: sum(cpu_seconds(pid) for pid in pids()) for name, pids in groups.items()}

    before, started = sample(), time.perf_counter()
    yield
    if conn is not None:
        sessions |= await database_sessions(conn)  # pools may have grown meanwhile
    after, wall = sample(), time.perf_counter() - started
    stop.set()
    load.cpu.update({name: round((after[name] - before.get(name, 0.0)) / wall, 2) for name in groups})
    if conn is not None and watcher is not None:
        await watcher
        after_db = await conn.fetchrow(DATABASE_SQL)
        load.database = {key: after_db[key] - before_db[key] for key in DATABASE_COUNTERS}
        await conn.close()


DATABASE_COUNTERS = ("commits", "rollbacks", "deadlocks", "buffers", "rows_scanned")
DATABASE_SQL = """
    SELECT xact_commit AS commits, xact_rollback AS rollbacks, deadlocks,
           blks_hit + blks_read AS buffers, tup_returned AS rows_scanned
    FROM pg_stat_database WHERE datname = current_database()
"""


async def database_sessions(conn: asyncpg.Connection) -> set[int]:
    rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
    return {row["pid"] for row in rows}


ACTIVITY_SQL = """
    SELECT state, coalesce(wait_event_type || ':' || wait_event, 'on CPU') AS waiting, query
    FROM pg_stat_activity WHERE application_name = 'crowd' AND datname = current_database()
"""


async def sample_activity(dsn: str, stop: asyncio.Event, into: Counter[str]) -> None:
    """Every 20 ms, the state of each server session: which statement, waiting on what."""
    conn = await asyncpg.connect(dsn)
    try:
        while not stop.is_set():
            for row in await conn.fetch(ACTIVITY_SQL):
                query = " ".join((row["query"] or "").split())[:70]
                into[f"{row['state']:<19} {row['waiting']:<22} {query}"] += 1
            await asyncio.sleep(0.02)
    finally:
        await conn.close()


def cpu_groups(servers_: list[Server]) -> dict[str, Callable[[], list[int]]]:
    return {
        "load_generator": lambda: [os.getpid()],
        "crowd_serve": lambda: [s.process.pid for s in servers_ if s.process is not None],
        "postgres": lambda: processes_named("postgres"),
        "redis": lambda: processes_named("redis-server"),
    }


# --- fixtures written directly ------------------------------------------------------------------


@dataclass
class Fixture:
    project_id: str
    worker_ids: list[str]
    tokens: list[str]


async def make_fixture(db: Database, workers: int, organization: str = "bench") -> Fixture:
    """A project (through the service layer, so every setting is valid) and workers."""
    clock = SystemClock()
    key, _ = await identity.create_api_key(db, clock, organization=organization, role=Role.PLATFORM, name="bench")
    values = {**project_settings(), "max_overlap": OVERLAP}
    from crowd.api.models import ProjectCreate

    project = (await projects.create_project(db, clock, key.organization_id, ProjectCreate(**values).values())).project
    made = [
        await identity.create_worker(db, clock, name=f"bench-{i}", organization=organization) for i in range(workers)
    ]
    return Fixture(project.id, [w.id for w, _ in made], [token for _, token in made])


def project_settings(routing: str = "depth_first") -> dict[str, Any]:
    """The project every run uses: no gold (its path is apart), a reward, so every answer posts to the ledger."""
    return {
        "name": "bench",
        "labels": LABELS,
        "min_overlap": OVERLAP,
        "gold_rate": 0.0,
        "onboarding_gold_rate": 0.0,
        "reward": 5,
        "routing": routing,
    }


async def push_sequences(conn: asyncpg.Connection) -> None:
    """Ids far above any constant in a statement, so captured parameters map to roles unambiguously."""
    for table, start in (("tasks", 10_000_000), ("assignments", 20_000_000), ("answers", 30_000_000)):
        await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {start})")


BATCH_SIZE = 10_000
"""Tasks per batch, as the end-to-end fixture submits them: a task's completion checks whether its batch is done."""
BATCHES_SQL = """
    INSERT INTO batches (id, project_id, request_hash, task_count, created_at)
    SELECT 'bat_' || $2 || b, $1, '', $3, now()
    FROM generate_series(0, ($4::bigint - 1) / $3) AS b
"""
TASKS_SQL = """
    INSERT INTO tasks (project_id, batch_id, external_id, data, target_overlap, created_at)
    SELECT $1, 'bat_' || $2 || ((g - 1) / $6), $2 || g, jsonb_build_object('text', 'item ' || g), $3, now()
    FROM generate_series($4::bigint, $5::bigint) AS g
"""


async def insert_open_tasks(conn: asyncpg.Connection, project_id: str, prefix: str, n: int) -> None:
    await conn.execute(BATCHES_SQL, project_id, prefix, BATCH_SIZE, n)
    await conn.execute(TASKS_SQL, project_id, prefix, OVERLAP, 1, n, BATCH_SIZE)


# --- statements captured from the store, replayed with asyncpg -----------------------------------


@dataclass(frozen=True)
class Statement:
    sql: str
    args: tuple[Any, ...]
    roles: tuple[str | None, ...]
    """Per parameter: the role whose value goes there (project, worker, …), or None for a constant."""
    build: Callable[[dict[str, Any]], list[Any]] | None = None
    """Builds the arguments itself, where they are not the roles' values as such (the ledger's arrays)."""
    returns: str | None = None
    """The role its first row's first column fills (the answer's id, for the ledger)."""

    def bind(self, values: dict[str, Any]) -> list[Any]:
        if self.build is not None:
            return self.build(values)
        return [values[role] if role else arg for role, arg in zip(self.roles, self.args, strict=True)]


@dataclass(frozen=True)
class Statements:
    claim: list[Statement]
    """The project, the worker's standing and lease there (``claim_context``), ``_PG_CLAIM``.
    The server also releases overdue leases, at most once a second per project and process."""
    answer: list[Statement]
    """Lock the assignment and its task (the row gives ``assignment``, ``task`` and the
    task's slots; the project and the worker's standing come with it), insert the answer
    and close the assignment, post its reward, upsert the worker's stats, read the task's
    votes and the latest fit."""
    settle: list[Statement]
    """The task's new posterior with the answer counted: ``[still open, completed]``. Without
    the second, full tasks would stay in the claim index and every claim would walk past them."""
    complete: list[Statement]
    """After the write that completes a task (``completion.task_completed``): the
    ``task.completed`` event, and whether its batch has open tasks left."""
    routed: Statement
    """The claim of ``routing=uncertainty`` for a reliable worker: the most uncertain
    of the first 32 candidates (``_PG_ROUTED_CLAIMS``), in place of ``_PG_CLAIM``."""


async def capture_statements(db: Database, project: str, worker: str) -> Statements:
    """Run one claim and one answer through the store functions (rolled back),
    recording the SQL and the parameters they send."""
    project_id, worker_id, public_id = ProjectId(project), WorkerId(worker), AssignmentId("asg_bench_capture")
    now = datetime.now(UTC)
    roles: dict[str, Any] = {
        "project": project_id,
        "worker": worker_id,
        "public_id": public_id,
        "now": now,
        "expires": now + timedelta(seconds=600),
        "label": LABELS[1],
        "answered_at": now + timedelta(seconds=5),
    }
    seen: list[tuple[str, tuple[Any, ...]]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, tuple(parameters or ())))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with db.engine.connect() as conn:
            transaction = await conn.begin()
            found = await assignment_store.claim_context(conn, project_id, worker_id)
            assert found is not None, "the capture needs the project"
            project_row = found[0].project
            before_routed, savepoint = len(seen), await conn.begin_nested()
            routed = await assignment_store.claim(
                conn, project_id, worker_id, public_id, now, roles["expires"], route="uncertain_first"
            )
            assert routed is not None, "the capture needs an open task"
            await savepoint.rollback()
            routed_sql = next(entry for entry in seen[before_routed:] if "pool AS (" in entry[0])
            del seen[before_routed:]
            reward = (project_row.reward, False)
            offer = await assignment_store.claim(conn, project_id, worker_id, public_id, now, roles["expires"], reward)
            assert offer is not None, "the capture needs an open task"
            claimed = len(seen)
            answering_ = await assignment_store.answer_context(conn, public_id, worker_id, project_row.organization_id)
            assert answering_ is not None
            assignment, _, slots = answering_
            assert slots is not None
            roles.update(assignment=assignment.id, task=assignment.task_id)
            at = roles["answered_at"]
            stored = await assignment_store.record_answer(
                conn, assignment, roles["label"], at, held_slot=True, count=False
            )
            posting = len(seen)
            await payments.pay_answer(conn, project_row, assignment, stored.id, held_slot=True, now=at)
            assert len(seen) == posting + 1, "the reward is posted in one statement"
            await inference_store.count_answer(conn, project_id, worker_id, at)
            await inference_store.task_votes(conn, project_id, assignment.task_id)
            answered = len(seen)
            posterior = {label: round(1 / len(LABELS), 6) for label in LABELS}
            completed = None
            for outcome in (None, (roles["label"], 0.9)):
                savepoint = await conn.begin_nested()  # each counts the answer: one at a time
                completed = await inference_store.set_posterior(
                    conn,
                    assignment.task_id,
                    posterior,
                    target_overlap=slots.target_overlap,
                    outcome=outcome,
                    now=at,
                    counts=assignment_store.answer_counts(held_slot=True),
                )
                if completed is not None:
                    if completed.batch_id is not None:  # a role of None would claim every NULL argument
                        roles["batch"] = completed.batch_id
                    settled = len(seen)
                    await completion.task_completed(conn, project_row, assignment.task_id, completed, at)
                    completing = seen[settled:]
                    del seen[settled:]
                await savepoint.rollback()
            assert completed is not None, "the capture needs the task to complete"
            await transaction.rollback()
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    made = [_statement(sql, args, roles) for sql, args in seen]
    answer_sql, ledger_sql = made[claimed + 1], made[posting]
    made[claimed + 1] = replace(answer_sql, returns="answer")
    dialect = db.engine.dialect
    made[posting] = replace(ledger_sql, build=_reward_posting(project_row, dialect, ledger_sql.args))
    settle = [statement for statement in made[answered:] if "SAVEPOINT" not in statement.sql]
    complete = _completion([_statement(sql, args, roles) for sql, args in completing])
    return Statements(made[:claimed], made[claimed:answered], settle, complete, _statement(*routed_sql, roles))


def _completion(made: list[Statement]) -> list[Statement]:
    """The completion's statements, made replayable: the event gets a fresh public id. The
    second, whether the batch is done, only for a task in a batch."""
    assert len(made) in (1, 2), f"a completion is its event (and the batch check), not {len(made)} statements"
    emitted, *unfinished = made
    assert "INSERT INTO events" in emitted.sql
    event_at = next(i for i, arg in enumerate(emitted.args) if isinstance(arg, str) and arg.startswith("evt_"))

    def emit_event(values: dict[str, Any]) -> list[Any]:
        args = [values[role] if role else arg for role, arg in zip(emitted.roles, emitted.args, strict=True)]
        args[event_at] = new_id("evt", 24)
        return args

    return [replace(emitted, build=emit_event), *unfinished]


def _reward_posting(
    project: Project, dialect: Dialect, captured: tuple[Any, ...]
) -> Callable[[dict[str, Any]], list[Any]]:
    """The reward's posting for the replayed answer: its key and entries name the answer."""
    names = payments_store.PG_POST_ALL.statement.compile(dialect=dialect).positiontup
    assert names is not None
    assert len(names) == len(captured)

    def build(values: dict[str, Any]) -> list[Any]:
        tx = payments.books(project, values["worker"]).reward(values["answer"], project.reward)
        due = values["answered_at"] + timedelta(seconds=project.review_seconds)
        params = payments_store.pg_post_params([(tx, due)], values["answered_at"])
        return [params[name] for name in names]

    return build


def _statement(sql: str, args: tuple[Any, ...], roles: dict[str, Any]) -> Statement:
    def role_of(value: Any) -> str | None:
        for name, known in roles.items():
            if type(value) is type(known) and value == known:
                return name
        return None

    return Statement(sql, args, tuple(role_of(arg) for arg in args))


async def replay_answer(conn: asyncpg.Connection, statements: Statements, values: dict[str, Any]) -> bool:
    """The answer statements in one transaction; False if there was no lease to answer."""
    lock, *rest = statements.answer
    row = await conn.fetchrow(lock.sql, *lock.bind(values))
    if row is None:
        return False
    values.update(assignment=row["id"], task=row["task_id"])
    for statement in rest:
        rows = await conn.fetch(statement.sql, *statement.bind(values))
        if statement.returns:
            values[statement.returns] = rows[0][0]
    if row["task__answer_count"] + 1 < row["task__target_overlap"]:
        await conn.fetch(statements.settle[0].sql, *statements.settle[0].bind(values))
        return True
    complete = statements.settle[1]
    values["batch"] = (await conn.fetchrow(complete.sql, *complete.bind(values)))["batch_id"]
    for statement in statements.complete:  # the event; whether the batch is done
        await conn.fetch(statement.sql, *statement.bind(values))
    return True


@dataclass
class Load:
    """Cycles completed in the measured window and next-task (claim) latencies."""

    cycles: int = 0
    empty: int = 0
    next_seconds: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    window: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    activity: Counter[str] = field(default_factory=Counter)
    database: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        ms = np.percentile(np.asarray(self.next_seconds) * 1e3, [50, 90, 99]).tolist() if self.next_seconds else []
        return {
            "cycles_per_second": round(self.cycles / self.window, 1) if self.window else 0.0,
            "cycles": self.cycles,
            "seconds": round(self.window, 2),
            "next_p50_ms": round(ms[0], 2) if ms else None,
            "next_p90_ms": round(ms[1], 2) if ms else None,
            "next_p99_ms": round(ms[2], 2) if ms else None,
            "empty_claims": self.empty,
            "errors": dict(self.errors),
            "cpu_cores": self.cpu,
            "cpu_ms_per_cycle": {
                name: round(cores * 1e3 * self.window / self.cycles, 2) if self.cycles else None
                for name, cores in self.cpu.items()
            },
            "database": self.database,
            "database_per_cycle": {
                name: round(n / self.cycles, 2) if self.cycles else None for name, n in self.database.items()
            },
            "database_sessions": self.activity_shares(),
        }

    def activity_shares(self) -> list[dict[str, Any]]:
        total = sum(self.activity.values())
        return [{"share": round(n / total, 3), "state": what} for what, n in self.activity.most_common(10)]


async def drive(
    workers: int,
    plan: Plan,
    cycle: Callable[[int, Load, Callable[[], bool]], Awaitable[None]],
    measure: Callable[[Load], AbstractAsyncContextManager[None]],
) -> Load:
    """Run ``workers`` loops of ``cycle`` for warm-up + duration; count only the measured window."""
    load = Load()
    loop = asyncio.get_running_loop()
    start = loop.time()
    measuring_from, until = start + plan.warmup, start + plan.warmup + plan.duration

    def measuring() -> bool:
        return measuring_from <= loop.time() < until

    async def worker(i: int) -> None:
        while loop.time() < until:
            await cycle(i, load, measuring)

    await asyncio.sleep(0)
    tasks = [asyncio.create_task(worker(i)) for i in range(workers)]
    await asyncio.sleep(plan.warmup)
    async with measure(load):
        await asyncio.sleep(plan.duration)
    load.window = plan.duration
    await asyncio.gather(*tasks)
    return load


async def _no_reset(conn: asyncpg.Connection) -> None:
    return None


async def ceiling(dsn: str, statements: Statements, fixture: Fixture, pool_size: int, plan: Plan) -> Load:
    """The captured claim and answer statements, two transactions per cycle, over an asyncpg pool."""
    # No reset on release: asyncpg's default sends RESET ALL and three more
    # commands each time, a round trip the server's pool (SQLAlchemy's) never makes.
    pool = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size, reset=_no_reset)
    try:

        async def cycle(i: int, load: Load, measuring: Callable[[], bool]) -> None:
            now = datetime.now(UTC)
            values: dict[str, Any] = {
                "project": fixture.project_id,
                "worker": fixture.worker_ids[i],
                "public_id": "asg_" + secrets.token_hex(12),
                "now": now,
                "expires": now + timedelta(seconds=600),
                "label": LABELS[i % len(LABELS)],
            }
            started = time.perf_counter()
            async with pool.acquire() as conn, conn.transaction():
                for statement in statements.claim:
                    await conn.fetch(statement.sql, *statement.bind(values))
            claim_seconds = time.perf_counter() - started
            values["answered_at"] = datetime.now(UTC)
            async with pool.acquire() as conn, conn.transaction():
                if not await replay_answer(conn, statements, values):  # nothing was claimed: the project ran dry
                    load.empty += measuring()
                    await asyncio.sleep(0.01)
                    return
            if measuring():
                load.cycles += 1
                load.next_seconds.append(claim_seconds)

        groups = {"load_generator": lambda: [os.getpid()], "postgres": lambda: processes_named("postgres")}
        return await drive(len(fixture.worker_ids), plan, cycle, lambda load: meter(load, groups, dsn))
    finally:
        await pool.close()


# --- end to end over HTTP ------------------------------------------------------------------------


async def http_fixture(
    url: str, platform_key: str, operator_key: str, workers: int, tasks: int, routing: str = "depth_first"
) -> Fixture:
    async with aiohttp.ClientSession() as session:

        async def call(method: str, path: str, key: str, body: Any) -> Any:
            async with session.request(method, url + path, json=body, headers={"Authorization": f"Bearer {key}"}) as r:
                assert r.status in (200, 201), await r.text()
                return await r.json()

        project = await call("POST", "/api/v1/projects", platform_key, project_settings(routing))
        for start in range(0, tasks, 10_000):
            rows = [
                {"external_id": f"t-{i}", "data": {"text": f"item {i}"}}
                for i in range(start, min(tasks, start + 10_000))
            ]
            await call("POST", f"/api/v1/projects/{project['id']}/batches", platform_key, {"tasks": rows})
        made = await asyncio.gather(
            *(call("POST", "/api/v1/workers", operator_key, {"name": f"bench-{i}"}) for i in range(workers))
        )
    return Fixture(project["id"], [m["id"] for m in made], [m["token"] for m in made])


async def end_to_end(running: list[Server], fixture: Fixture, plan: Plan, dsn: str | None, think: float = 0.0) -> Load:
    """Each simulated worker talks to one process (as behind a load balancer)
    over its own keep-alive connection: next, then answer; with ``think``, it
    first spends 0.5 to 1.5 × that many seconds on the task, as people do."""
    pace = np.random.default_rng(0)
    clients = [
        KeepAlive("127.0.0.1", running[i % len(running)].port, {"Authorization": f"Bearer {token}"})
        for i, token in enumerate(fixture.tokens)
    ]
    next_path = f"/api/v1/work/next?project_id={fixture.project_id}&wait=0"

    async def cycle(i: int, load: Load, measuring: Callable[[], bool]) -> None:
        client = clients[i]
        started = time.perf_counter()
        status, body = await client.get(next_path)
        seconds = time.perf_counter() - started
        if measuring():
            load.next_seconds.append(seconds)
        if status != 200:
            load.errors[str(status)] += measuring() and status != 204
            load.empty += measuring() and status == 204
            await asyncio.sleep(0.01)
            return
        if think:
            await asyncio.sleep(think * float(pace.uniform(0.5, 1.5)))
        lease = json.loads(body)
        path = f"/api/v1/work/assignments/{lease['assignment_id']}/answer"
        status, _ = await client.post(path, {"label": LABELS[i % len(LABELS)]})
        if status != 200:
            load.errors[str(status)] += measuring()
            return
        load.cycles += measuring()

    try:
        return await drive(len(fixture.tokens), plan, cycle, lambda load: meter(load, cpu_groups(running), dsn))
    finally:
        await asyncio.gather(*(client.close() for client in clients))


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        "CROWD_DATABASE_URL": database_url,
        "CROWD_LOG_LEVEL": "WARNING",
        "CROWD_WORKER_RATE_LIMIT": "0",
        "CROWD_KEY_RATE_LIMIT": "0",
        # background refits would land at random in the window; bench/consensus.py measures them
        "CROWD_REFIT_INTERVAL_SECONDS": "3600",
        # the loop this process runs on (machine(), crowd/eventloop.py)
        "CROWD_EVENT_LOOP": name_of(asyncio.get_running_loop()),
        **extra,
    }


async def run_served(
    envs: list[dict[str, str]],
    workers: int,
    plan: Plan,
    dsn: str | None = None,
    think: float = 0.0,
    routed: bool = False,
) -> list[Load]:
    """As fast as the workers can go; then, with ``think``, again with thinking workers (fresh ones);
    then, if ``routed``, as fast again on a project with ``routing=uncertainty`` (fresh workers: none
    fitted, so every claim is the routed one, confident-first)."""
    env = envs[0]
    platform_key = crowd_cli(env, "keys", "create", "--role", "platform", "--name", "bench")
    operator_key = crowd_cli(env, "keys", "create", "--role", "operator", "--name", "bench")
    async with servers(envs) as running:
        fixture = await http_fixture(running[0].url, platform_key, operator_key, workers, plan.e2e_tasks)
        loads = [await end_to_end(running, fixture, plan, dsn)]
        if think:
            progress(f"end to end: {workers} workers thinking {think:.0f} s per task")
            fixture = await http_fixture(running[0].url, platform_key, operator_key, workers, plan.e2e_tasks)
            loads.append(await end_to_end(running, fixture, plan, dsn, think))
        if routed:
            progress(f"end to end: {workers} workers, routing=uncertainty")
            fixture = await http_fixture(
                running[0].url, platform_key, operator_key, workers, plan.e2e_tasks, routing="uncertainty"
            )
            loads.append(await end_to_end(running, fixture, plan, dsn))
        return loads


# --- where the time goes: the service layer, statement by statement ------------------------------


async def profile_service(db: Database, fixture: Fixture, cycles: int) -> dict[str, Any]:
    """One worker, claim then answer, in-process through the use cases; every statement timed."""
    engine = Engine(db, InProcessBroker(), SystemClock())
    principal = await identity.authenticate(db, fixture.tokens[0])
    assert isinstance(principal, Worker)
    statements: list[tuple[str, str, float]] = []
    phase, starts = ["claim"], []

    def before(*_: Any) -> None:
        starts.append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.append((phase[0], statement, time.perf_counter() - starts.pop()))

    def logged(query: Any) -> None:  # hot statements (crowd/db/hot.py), sent to asyncpg directly
        if query.query not in TRANSACTION_CONTROL:
            statements.append((phase[0], query.query, query.elapsed))

    def checkout(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(logged)

    sync_engine = db.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", before)
    event.listen(sync_engine, "after_cursor_execute", after)
    event.listen(sync_engine, "checkout", checkout)
    walls = {"claim": 0.0, "answer": 0.0}
    try:
        for _ in range(cycles):
            phase[0], started = "claim", time.perf_counter()
            lease = await assignment_service.next_assignment(engine, principal, fixture.project_id, 0)
            walls["claim"] += time.perf_counter() - started
            assert lease is not None
            phase[0], started = "answer", time.perf_counter()
            await answering.answer(engine, principal, lease.offer.public_id, LABELS[0])
            walls["answer"] += time.perf_counter() - started
    finally:
        event.remove(sync_engine, "before_cursor_execute", before)
        event.remove(sync_engine, "after_cursor_execute", after)
        event.remove(sync_engine, "checkout", checkout)
        await db.dispose()  # no connection keeps the logger
    return _profile_summary(statements, walls, cycles)


#: Not counted as statements (nor were they when SQLAlchemy sent them): their round trips show as Python time.
TRANSACTION_CONTROL = frozenset({"BEGIN;", "COMMIT;", "ROLLBACK;"})


def _profile_summary(statements: list[tuple[str, str, float]], walls: dict[str, float], cycles: int) -> dict[str, Any]:
    summary: dict[str, Any] = {"cycles": cycles}
    for phase in ("claim", "answer"):
        mine = [(sql, seconds) for p, sql, seconds in statements if p == phase]
        sql_ms = sum(seconds for _, seconds in mine) * 1e3 / cycles
        wall_ms = walls[phase] * 1e3 / cycles
        by_statement: dict[str, list[float]] = {}
        for sql, seconds in mine:
            by_statement.setdefault(" ".join(sql.split())[:110], []).append(seconds)
        top = sorted(by_statement.items(), key=lambda item: -sum(item[1]))[:6]
        summary[phase] = {
            "statements": round(len(mine) / cycles, 1),
            "wall_ms": round(wall_ms, 3),
            "sql_ms": round(sql_ms, 3),
            "python_ms": round(wall_ms - sql_ms, 3),
            "top": [
                {"sql": sql, "per_cycle": round(len(t) / cycles, 2), "ms_per_cycle": round(sum(t) * 1e3 / cycles, 3)}
                for sql, t in top
            ],
        }
    return summary


async def ceiling_single(dsn: str, statements: Statements, fixture: Fixture, cycles: int) -> dict[str, float]:
    """The captured statements alone, one connection, one worker: the floor of a cycle's time."""
    conn = await asyncpg.connect(dsn)
    claim = answer = 0.0
    try:
        for _ in range(cycles):
            now = datetime.now(UTC)
            values: dict[str, Any] = {"project": fixture.project_id, "worker": fixture.worker_ids[-1], "now": now}
            values.update(public_id="asg_" + secrets.token_hex(12), expires=now + timedelta(seconds=600))
            values.update(label=LABELS[0], answered_at=now)
            started = time.perf_counter()
            async with conn.transaction():
                for statement in statements.claim:
                    await conn.fetch(statement.sql, *statement.bind(values))
            middle = time.perf_counter()
            async with conn.transaction():
                assert await replay_answer(conn, statements, values)
            claim, answer = claim + middle - started, answer + time.perf_counter() - middle
    finally:
        await conn.close()
    return {"claim_ms": round(claim * 1e3 / cycles, 3), "answer_ms": round(answer * 1e3 / cycles, 3)}


# --- scale: the claim at 10k and at 1M tasks -----------------------------------------------------

SCALE_TASKS_SQL = """
    -- 60% completed with 4 answers; open tasks with 3, 2, 1 or 0 answers (target 4 or 3)
    WITH made AS (
        INSERT INTO tasks
            (project_id, external_id, data, status, target_overlap, answer_count, label, confidence, created_at)
        SELECT $1, 't-' || g, jsonb_build_object('text', 'item ' || g),
               CASE WHEN g % 10 < 6 THEN 'completed' ELSE 'open' END,
               CASE WHEN g % 10 < 6 OR g % 10 = 9 THEN 4 ELSE 3 END,
               CASE WHEN g % 10 < 6 THEN 4 ELSE g % 10 - 6 END,
               CASE WHEN g % 10 < 6 THEN 'cat' END,
               -- a posterior once answered (routing by uncertainty orders by it)
               CASE WHEN g % 10 < 6 THEN 0.99 WHEN g % 10 > 6 THEN 0.4 + (g % 13) / 25.0 END,
               now()
        FROM generate_series($2::bigint, $3::bigint) AS g
        RETURNING id
    )
    SELECT min(id), max(id) FROM made
"""

SCALE_ASSIGNMENTS_SQL = """
    -- one answered assignment per answer, each by a different worker of the pool
    INSERT INTO assignments (public_id, project_id, task_id, worker_id, status, issued_at, expires_at, closed_at)
    SELECT 'asg_s' || t.id || '_' || j, t.project_id, t.id,
           'wrk_scale_' || ((t.id * 7 + j * 131) % $4), 'answered',
           now() - interval '1 hour', now() - interval '50 minutes', now() - interval '55 minutes'
    FROM tasks AS t CROSS JOIN LATERAL generate_series(1, t.answer_count) AS j
    WHERE t.project_id = $1 AND t.id BETWEEN $2 AND $3
"""


async def load_scale(conn: asyncpg.Connection, project_id: str, first: int, last: int) -> float:
    """Tasks number ``first..last`` and their assignments, in chunks; seconds taken."""
    started = time.perf_counter()
    chunk = 250_000
    for low in range(first, last + 1, chunk):
        async with conn.transaction():
            ids = await conn.fetchrow(SCALE_TASKS_SQL, project_id, low, min(last, low + chunk - 1))
            await conn.execute(SCALE_ASSIGNMENTS_SQL, project_id, ids[0], ids[1], SCALE_WORKERS)
    await conn.execute("VACUUM ANALYZE tasks")
    await conn.execute("VACUUM ANALYZE assignments")
    return time.perf_counter() - started


async def scale_setup(conn: asyncpg.Connection, project_id: str) -> None:
    """The worker pool, and bulk loads without per-row foreign-key triggers (the data is consistent by construction)."""
    await conn.execute("SET session_replication_role = replica")
    await conn.execute(
        """INSERT INTO workers (id, organization_id, name, token_hash, status, created_at)
           SELECT 'wrk_scale_' || g, (SELECT organization_id FROM projects WHERE id = $2),
                  'scale ' || g, md5('scale' || g), 'active', now()
           FROM generate_series(0, $1 - 1) AS g""",
        SCALE_WORKERS + BUSY_LEASES,
        project_id,
    )


async def busy_leases(conn: asyncpg.Connection, project_id: str) -> None:
    """``BUSY_LEASES`` live leases on the first open tasks in claim order, held by other workers."""
    await conn.execute(
        """WITH front AS (
               SELECT id FROM tasks WHERE project_id = $1 AND status = 'open' AND NOT is_gold
               ORDER BY priority DESC, answer_count DESC, id LIMIT $2
           ), leased AS (
               INSERT INTO assignments (public_id, project_id, task_id, worker_id, status, issued_at, expires_at)
               SELECT 'asg_busy_' || front.id, $1, front.id, 'wrk_scale_' || ($3 + row_number() OVER ()),
                      'leased', now(), now() + interval '1 day'
               FROM front
               RETURNING task_id
           )
           UPDATE tasks SET lease_count = lease_count + 1 WHERE id IN (SELECT task_id FROM leased)""",
        project_id,
        BUSY_LEASES,
        SCALE_WORKERS - 1,
    )


async def time_claim(
    conn: asyncpg.Connection, statements: Statements, values: dict[str, Any], *, routed: bool = False
) -> tuple[float, float]:
    """One run of the claim statements, rolled back: seconds of ``_PG_CLAIM`` (or, if
    ``routed``, of the routed claim in its place) and of both."""
    values = {**values, "public_id": "asg_" + secrets.token_hex(12), "now": datetime.now(UTC)}
    values["expires"] = values["now"] + timedelta(seconds=600)
    transaction = conn.transaction()
    await transaction.start()
    started = time.perf_counter()
    for statement in [*statements.claim[:-1], statements.routed] if routed else statements.claim:
        before = time.perf_counter()
        rows = await conn.fetch(statement.sql, *statement.bind(values))
        last = time.perf_counter() - before
    total = time.perf_counter() - started
    await transaction.rollback()
    assert rows, "the claim found no task"
    return last, total


async def explain_claim(conn: asyncpg.Connection, statements: Statements, values: dict[str, Any]) -> str:
    claim = statements.claim[-1]
    transaction = conn.transaction()
    await transaction.start()
    try:
        rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + claim.sql, *claim.bind(values))
    finally:
        await transaction.rollback()
    return "\n".join(row[0] for row in rows)


@dataclass
class Sized:
    """One scale database: a project at one size, ready to claim from."""

    name: str
    conn: asyncpg.Connection
    statements: Statements
    values: dict[str, Any]
    info: dict[str, Any]


async def sized(pg: Postgres, tasks: int) -> Sized:
    name = await pg.create(f"scale{tasks}")
    db = create_database(Settings(database_url=pg.sqlalchemy_url(name)))
    conn = await asyncpg.connect(pg.dsn(name))
    try:
        fixture = await make_fixture(db, 1)
        await push_sequences(conn)
        await scale_setup(conn, fixture.project_id)
        load_seconds = await load_scale(conn, fixture.project_id, 1, tasks)
        await busy_leases(conn, fixture.project_id)
        statements = await capture_statements(db, fixture.project_id, fixture.worker_ids[0])
    finally:
        await db.dispose()
    # a worker of the pool, whose answers are spread over the project like everyone's
    values: dict[str, Any] = {"project": fixture.project_id, "worker": "wrk_scale_17", "now": datetime.now(UTC)}
    values.update(public_id="asg_explain", expires=values["now"] + timedelta(seconds=600))
    counts = await conn.fetchrow("SELECT (SELECT count(*) FROM tasks) AS t, (SELECT count(*) FROM assignments) AS a")
    info = {"tasks": counts["t"], "assignments": counts["a"], "load_seconds": round(load_seconds, 1)}
    return Sized(name, conn, statements, values, info)


async def scale(pg: Postgres, plan: Plan) -> dict[str, Any]:
    """The claim in a database of each size, timed alternately (so a busy
    moment on the machine hits both alike), then explained."""
    small, big = [await sized(pg, tasks) for tasks in plan.scale_sizes]
    try:
        times: dict[tuple[str, bool], list[tuple[float, float]]] = {}
        for i in range(plan.claim_repeats + 5):
            for key, db in (("small", small), ("big", big)):
                for routed in (False, True):
                    measured = await time_claim(db.conn, db.statements, db.values, routed=routed)
                    if i >= 5:  # the first runs warm the caches
                        times.setdefault((key, routed), []).append(measured)
        result: dict[str, Any] = {}
        for key, db in (("small", small), ("big", big)):
            claim, group = (np.asarray(column) * 1e3 for column in zip(*times[key, False], strict=True))
            routed_claim = np.asarray([first for first, _ in times[key, True]]) * 1e3
            result[key] = db.info | {
                "claim_ms": round(float(np.median(claim)), 3),
                "claim_p90_ms": round(float(np.percentile(claim, 90)), 3),
                "claim_statements_ms": round(float(np.median(group)), 3),
                "routed_claim_ms": round(float(np.median(routed_claim)), 3),
                "routed_over_plain": round(float(np.median(routed_claim) / np.median(claim)), 2),
                "plan": await explain_claim(db.conn, db.statements, db.values),
            }
        return result | {"ratio": round(result["big"]["claim_ms"] / result["small"]["claim_ms"], 2)}
    finally:
        await small.conn.close()
        await big.conn.close()


# --- the run -------------------------------------------------------------------------------------


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    plan = Plan.of(args.quick)
    pg = Postgres(args.postgres)
    prefix = f"crowd-bench:{uuid.uuid4().hex[:8]}:"
    report: dict[str, Any] = {"machine": machine(await pg.version()), "plan": plan.__dict__ | {"workers": args.workers}}
    try:
        report |= await postgres_part(pg, plan, args.workers, args.redis, prefix)
        report["sqlite"] = await sqlite_part(plan, args.workers)
        progress("scale: bulk-loading the claim's project at both sizes")
        report["scale"] = await scale(pg, plan)
    finally:
        await pg.drop_all()
        await delete_redis_keys(args.redis, prefix)
    return report | {"targets": TARGETS, "checks": checks(report)}


async def postgres_part(pg: Postgres, plan: Plan, workers: int, redis_url: str, prefix: str) -> dict[str, Any]:
    name = await pg.create("load")
    url = pg.sqlalchemy_url(name)
    db = create_database(Settings(database_url=url))
    try:
        conn = await asyncpg.connect(pg.dsn(name))
        await push_sequences(conn)
        base = await make_fixture(db, workers)
        profiled = await make_fixture(db, 1, organization="profile")
        ceiling_tasks = 30_000 if plan.duration < 10 else 120_000
        await insert_open_tasks(conn, base.project_id, "c-", ceiling_tasks)
        await insert_open_tasks(conn, profiled.project_id, "p-", plan.profile_cycles * 2 + 10)
        await conn.execute("VACUUM ANALYZE")
        await conn.close()
        statements = await capture_statements(db, base.project_id, base.worker_ids[0])
        progress(f"profile: {plan.profile_cycles} cycles of one worker through the service layer")
        profile = await profile_service(db, profiled, plan.profile_cycles)
        profile["ceiling_one_worker"] = await ceiling_single(pg.dsn(name), statements, base, plan.profile_cycles)
        # PostgreSQL plans a connection's foreign-key checks at their first use and keeps the plan:
        # on the near-empty tables of a young database, a sequential scan, which then grows with
        # every answer. A first run, not measured, gives the tables some history.
        progress("ceiling: warm-up run, not measured")
        await ceiling(pg.dsn(name), statements, base, plan.pool_sizes[0], replace(plan, duration=2 * plan.warmup))
        runs = {}
        for size in plan.pool_sizes:
            progress(f"ceiling: {workers} workers over an asyncpg pool of {size}")
            runs[str(size)] = (await ceiling(pg.dsn(name), statements, base, size, plan)).summary()
    finally:
        await db.dispose()
    # The two servers together hold as many connections as the ceiling's best pool.
    best_pool = max(plan.pool_sizes, key=lambda size: runs[str(size)]["cycles_per_second"])
    server_pool = max(1, best_pool // 2)
    progress(f"end to end: {workers} workers on two crowd serve processes of {server_pool} connections each")
    env = server_env(url, CROWD_REDIS_URL=redis_url, CROWD_REDIS_PREFIX=prefix, CROWD_DB_POOL_SIZE=str(server_pool))
    load, paced, routed = await run_served([env, env], workers, plan, pg.dsn(name), think=THINK_SECONDS, routed=True)
    progress(f"end to end: {workers} workers, the servers on asyncio's own event loop")
    on_asyncio = {**env, "CROWD_EVENT_LOOP": "asyncio"}
    (standard_loop,) = await run_served([on_asyncio, on_asyncio], workers, plan, pg.dsn(name))
    return {
        "statements": {
            "claim": [s.sql for s in statements.claim],
            "answer": [s.sql for s in statements.answer],
            "settle": [s.sql for s in statements.settle],
            "complete": [s.sql for s in statements.complete],
        },
        "profile": profile,
        "ceiling": runs,
        "server_pool": server_pool,
        "postgres": load.summary(),
        "postgres_thinking": paced.summary(),
        "postgres_routed": routed.summary(),
        "postgres_asyncio": standard_loop.summary(),
    }


async def sqlite_part(plan: Plan, workers: int) -> dict[str, Any]:
    progress(f"end to end: {workers} workers on one crowd serve process (SQLite)")
    with tempfile.TemporaryDirectory(prefix="crowd-bench-") as folder:
        env = server_env(f"sqlite+aiosqlite:///{folder}/crowd.db")
        crowd_cli(env, "migrate")
        (load,) = await run_served([env], workers, plan)
    return load.summary()


async def delete_redis_keys(url: str, prefix: str) -> None:
    client = Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def machine(postgres_version: str) -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    memory_kb = int(
        next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line)
    )
    return {
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "cpu": model,
        "memory_gb": round(memory_kb / 2**20, 1),
        "python": platform.python_version(),
        "postgres": postgres_version,
        "event_loop": name_of(asyncio.get_running_loop()),
    }


def checks(report: dict[str, Any]) -> dict[str, bool]:
    ceiling_rate = max(run["cycles_per_second"] for run in report["ceiling"].values())
    served = report["postgres"]
    return {
        "end_to_end_at_least_50%_of_ceiling": served["cycles_per_second"] >= TARGETS["share_of_ceiling"] * ceiling_rate,
        "next_p99_under_100_ms_saturated": (served["next_p99_ms"] or 1e9) < TARGETS["next_p99_ms"],
        "next_p99_under_100_ms_thinking": (report["postgres_thinking"]["next_p99_ms"] or 1e9) < TARGETS["next_p99_ms"],
        "claim_at_big_within_1.5x_of_small": report["scale"]["ratio"] <= TARGETS["claim_scale_ratio"],
        "routing_uncertainty_within_10%_of_depth_first": report["postgres_routed"]["cycles_per_second"]
        >= (1 - TARGETS["routing_loss"]) * served["cycles_per_second"],
    }


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


# --- report --------------------------------------------------------------------------------------


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(
        f"machine: {m['cpus']} × {m['cpu']}, {m['memory_gb']} GB; PostgreSQL {m['postgres']}, Python {m['python']}"
        f"; event loop {m['event_loop']}, here and in the servers (but for the asyncio row)"
    )
    print(f"load average before the run: {m['load_average_before']} (other jobs on the machine skew every figure)")
    plan = report["plan"]
    print(f"{plan['workers']} workers, {plan['duration']:.0f} s measured after {plan['warmup']:.0f} s of warm-up")
    ceiling_rate = max(run["cycles_per_second"] for run in report["ceiling"].values())
    header = f"{'':<44}{'cycles/s':>9}{'next p50':>10}{'next p99':>10}{'share':>7}"
    print("\n" + header + "   CPU cores (ms per cycle): load generator / crowd serve / postgres")
    rows = [(f"ceiling: asyncpg, pool {size}", run, ceiling_rate) for size, run in report["ceiling"].items()]
    rows.append((f"crowd serve ×2 (pools of {report['server_pool']}), PG + Redis", report["postgres"], ceiling_rate))
    served_rate = report["postgres"]["cycles_per_second"]
    rows.append((f"  the same, workers thinking {THINK_SECONDS:.0f} s per task", report["postgres_thinking"], 0.0))
    rows.append(("  the same, routing=uncertainty (share of ×2)", report["postgres_routed"], served_rate))
    rows.append(("  the same, servers on asyncio (share of ×2)", report["postgres_asyncio"], served_rate))
    sqlite_name = "crowd serve ×1, SQLite (share of PostgreSQL)"
    rows.append((sqlite_name, report["sqlite"], served_rate))
    for name, run, reference in rows:
        cores, per_cycle = run["cpu_cores"], run["cpu_ms_per_cycle"]
        cpu = " / ".join(
            f"{cores.get(group, 0):.2f} ({_ms(per_cycle.get(group))})"
            for group in ("load_generator", "crowd_serve", "postgres_this_database")
        )
        share = f"{run['cycles_per_second'] / reference:>7.0%}" if reference else f"{'-':>7}"
        print(
            f"{name:<44}{run['cycles_per_second']:>9.1f}{_ms(run['next_p50_ms']):>10}{_ms(run['next_p99_ms']):>10}"
            f"{share}   {cpu}"
        )
    print("  (postgres: the backends of the bench database; every postgres process is in the JSON)")
    print("database transactions (a read-only one ends in a rollback):")
    apart = (report["postgres_thinking"], report["sqlite"])  # paced, or not PostgreSQL
    for name, run, _ in (row for row in rows if row[1] not in apart):
        per = run["database_per_cycle"]
        deadlocks = run["database"].get("deadlocks")
        print(
            f"  {name}: {per.get('commits')} commits, {per.get('rollbacks')} rollbacks, {per.get('buffers')} buffers"
            f" touched, {per.get('rows_scanned')} rows scanned per cycle; {deadlocks} deadlocks"
        )
    print("\nthe servers' database sessions during the PostgreSQL run (share of 20 ms samples):")
    for item in report["postgres"]["database_sessions"]:
        print(f"  {item['share']:>6.1%}  {item['state']}")
    print_profile(report["profile"])
    print_scale(report["scale"])
    print("\ntargets:")
    for name, met in report["checks"].items():
        print(f"  {'met    ' if met else 'NOT MET'}  {name}")


def print_profile(profile: dict[str, Any]) -> None:
    floor = profile["ceiling_one_worker"]
    print(f"\none worker, no concurrency, per cycle ({profile['cycles']} cycles):")
    for phase in ("claim", "answer"):
        p = profile[phase]
        print(
            f"  {phase:<7} service layer {p['wall_ms']:.2f} ms = SQL {p['sql_ms']:.2f} ms "
            f"({p['statements']:.0f} statements) + Python {p['python_ms']:.2f} ms;  "
            f"the captured statements alone {floor[phase + '_ms']:.2f} ms"
        )
        for top in p["top"]:
            print(f"      {top['ms_per_cycle']:6.2f} ms  ×{top['per_cycle']:<4} {top['sql']}")


def print_scale(result: dict[str, Any]) -> None:
    print("\nthe claim (_PG_CLAIM) in a database of each size, median of alternating runs, each rolled back:")
    for size in ("small", "big"):
        r = result[size]
        print(
            f"  {r['tasks']:>9,} tasks {r['assignments']:>10,} assignments: claim {r['claim_ms']:.3f} ms "
            f"(p90 {r['claim_p90_ms']:.3f}), both claim statements {r['claim_statements_ms']:.3f} ms"
            f"  [loaded in {r['load_seconds']:.0f} s]"
        )
        print(
            f"  {'':>9} routing=uncertainty (most uncertain of 32 candidates): {r['routed_claim_ms']:.3f} ms, "
            f"{r['routed_over_plain']:.2f}x the plain claim"
        )
    print(f"  ratio big / small: {result['ratio']:.2f}")
    for size in ("small", "big"):
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the claim at {result[size]['tasks']:,} tasks:")
        print("\n".join("  " + line for line in result[size]["plan"].splitlines()))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="seconds per run, scale 10k vs 100k tasks")
    parser.add_argument("--workers", type=int, default=100, help="simulated workers (default 100)")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432", help="server URL, no database")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json", type=Path, help="also write the JSON report here")
    args = parser.parse_args()
    report = run_on_loop(bench(args))
    print_report(report)
    emit(report, args.json)


if __name__ == "__main__":
    main()
