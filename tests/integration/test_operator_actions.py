"""Operator actions are idempotent: a block pressed twice, or by two
operators at once, acts once; recollection (a blocked worker's answers
collected again from others) stays within ``max_overlap``, never reopens a
task an expert decided, and collects each answer again at most once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from crowd.api.keys import DATABASE
from crowd.clock import ManualClock
from crowd.config import Settings
from crowd.db.engine import Database
from crowd.db.schema import ledger_transactions, tasks, worker_stats
from tests.support.concurrent import at_once, pooled_crowd
from tests.support.crowd import Crowd

OPERATORS = 4


@pytest.fixture
async def pooled(settings: Settings, clock: ManualClock) -> AsyncIterator[Crowd]:
    async with pooled_crowd(settings, clock, OPERATORS + 2) as crowd:
        yield crowd


def database(crowd: Crowd) -> Database:
    app = crowd.client.server.app
    assert app is not None
    return app[DATABASE]


@dataclass(frozen=True)
class Snapshot:
    """Everything a block may change."""

    tasks: dict[str, tuple[int, str, str | None, int]]
    """external_id -> (target overlap, status, label, answers)"""
    events: list[tuple[str, Any]]
    ledger: int
    standing: tuple[Any, ...]


async def snapshot(crowd: Crowd, pid: str, worker_id: str) -> Snapshot:
    async with database(crowd).read() as conn:
        rows = await conn.execute(
            select(tasks.c.external_id, tasks.c.target_overlap, tasks.c.status, tasks.c.label, tasks.c.answer_count)
            .where(tasks.c.project_id == pid)
            .order_by(tasks.c.external_id)
        )
        by_task = {external_id: (target, status, label, n) for external_id, target, status, label, n in rows}
        ledger = (await conn.execute(select(func.count()).select_from(ledger_transactions))).scalar_one()
        standing = (
            await conn.execute(
                select(worker_stats.c.blocked, worker_stats.c.blocked_reason, worker_stats.c.blocked_at).where(
                    worker_stats.c.project_id == pid, worker_stats.c.worker_id == worker_id
                )
            )
        ).one()
    feed = await crowd.ok("GET", f"/api/v1/projects/{pid}/events?limit=1000", crowd.platform)
    return Snapshot(by_task, [(e["type"], e["data"]) for e in feed["items"]], int(ledger), tuple(standing))


async def worker_id_of(crowd: Crowd, token: str) -> str:
    return str((await crowd.ok("GET", "/api/v1/work/me", token))["id"])


async def work_all(crowd: Crowd, token: str, pid: str, label: str) -> int:
    done = 0
    while (lease := await crowd.next(token, pid)) is not None:
        assert (await crowd.answer(token, lease["assignment_id"], label)).status == 200
        done += 1
    return done


def block_path(pid: str, worker_id: str, action: str = "block") -> str:
    return f"/api/v1/projects/{pid}/workers/{worker_id}/{action}"


async def answered_project(crowd: Crowd, **settings: Any) -> tuple[str, str, str]:
    """A recollecting, rejecting project whose three tasks a spammer ("dog")
    and ann ("cat") both answered: ``(project, spammer token, spammer id)``."""
    project = {"reward": 5, "recollect_blocked": True, "reject_blocked": True, "review_seconds": 3600}
    pid = (await crowd.new_project(gold_rate=0.0, onboarding_gold_rate=0.0, **{**project, **settings}))["id"]
    await crowd.submit(pid, 3)
    spam, ann = await crowd.new_workers("spam", "ann")
    assert await work_all(crowd, spam, pid, "dog") == 3
    assert await work_all(crowd, ann, pid, "cat") == 3
    return pid, spam, await worker_id_of(crowd, spam)


def once_blocked(before: Snapshot, after: Snapshot, max_overlap: int) -> None:
    """What one block of the spammer does: every task they answered wants one
    more answer, up to ``max_overlap``; their three pending rewards are
    reversed; one ``worker.blocked`` event."""
    for external_id, (target, _, _, answers) in before.tasks.items():
        assert after.tasks[external_id][0] == min(target + 1, max_overlap), (external_id, before, after)
        assert after.tasks[external_id][3] == answers
    assert after.ledger == before.ledger + 3
    blocked = [data for kind, data in after.events if kind == "worker.blocked"]
    assert len(blocked) == 1, after.events
    assert after.standing[:2] == (True, "operator")


async def test_blocking_a_blocked_worker_changes_nothing(crowd: Crowd) -> None:
    pid, _, spam_id = await answered_project(crowd, min_overlap=2, max_overlap=4)
    start = await snapshot(crowd, pid, spam_id)
    await crowd.ok("POST", block_path(pid, spam_id), crowd.operator)
    first = await snapshot(crowd, pid, spam_id)
    once_blocked(start, first, max_overlap=4)
    crowd.clock.advance(60)
    for _ in range(2):  # pressed again, twice: the same reply, and nothing moves
        again = await crowd.ok("POST", block_path(pid, spam_id), crowd.operator)
        assert again == {"project_id": pid, "worker_id": spam_id, "blocked": True}
        assert await snapshot(crowd, pid, spam_id) == first


async def test_two_operators_blocking_at_once_block_once(pooled: Crowd) -> None:
    crowd = pooled
    pid, _, spam_id = await answered_project(crowd, min_overlap=2, max_overlap=4)
    start = await snapshot(crowd, pid, spam_id)
    replies = await at_once(crowd.client, OPERATORS, "POST", block_path(pid, spam_id), crowd.operator)
    assert replies == [(200, {"project_id": pid, "worker_id": spam_id, "blocked": True})] * OPERATORS
    once_blocked(start, await snapshot(crowd, pid, spam_id), max_overlap=4)


async def test_recollection_never_raises_a_task_past_max_overlap(crowd: Crowd) -> None:
    pid, _, spam_id = await answered_project(crowd, min_overlap=2, max_overlap=3)
    start = await snapshot(crowd, pid, spam_id)
    assert {target for target, _, _, _ in start.tasks.values()} == {3}  # a 1-1 split asked for a third answer
    await crowd.ok("POST", block_path(pid, spam_id), crowd.operator)
    blocked = await snapshot(crowd, pid, spam_id)
    assert blocked.tasks == start.tasks  # at max_overlap already: nothing to raise
    ben = await crowd.new_worker("ben")
    assert await work_all(crowd, ben, pid, "cat") == 3
    final = await snapshot(crowd, pid, spam_id)
    # The third answer is the last one the task may have: it completes on the
    # two answers that count, instead of asking for a fourth.
    assert set(final.tasks.values()) == {(3, "completed", "cat", 3)}, final.tasks


async def test_recollection_leaves_a_completed_task_at_max_overlap_alone(crowd: Crowd) -> None:
    pid, _, spam_id = await answered_project(crowd, min_overlap=2, max_overlap=2)
    start = await snapshot(crowd, pid, spam_id)
    assert {(target, status) for target, status, _, _ in start.tasks.values()} == {(2, "completed")}
    await crowd.ok("POST", block_path(pid, spam_id), crowd.operator)
    assert (await snapshot(crowd, pid, spam_id)).tasks == start.tasks


async def test_recollection_never_reopens_a_task_an_expert_decided(crowd: Crowd) -> None:
    pid, _, spam_id = await answered_project(crowd, min_overlap=2, max_overlap=5)
    decided = await crowd.ok("POST", f"/api/v1/projects/{pid}/review/t-1", crowd.operator, {"label": "other"})
    assert decided["decided_by"] == "expert"
    start = await snapshot(crowd, pid, spam_id)
    await crowd.ok("POST", block_path(pid, spam_id), crowd.operator)
    after = await snapshot(crowd, pid, spam_id)
    assert after.tasks["t-1"] == start.tasks["t-1"] == (2, "completed", "other", 2)
    for other in ("t-0", "t-2"):
        assert after.tasks[other][0] == start.tasks[other][0] + 1
        assert after.tasks[other][1] == "open"
    [result] = [r for r in await crowd.results(pid) if r["external_id"] == "t-1"]
    assert (result["status"], result["label"], result["decided_by"]) == ("completed", "other", "expert")


async def test_each_answer_is_recollected_once_across_unblocks(crowd: Crowd) -> None:
    pid, _, spam_id = await answered_project(crowd, min_overlap=2, max_overlap=6)
    start = await snapshot(crowd, pid, spam_id)
    await crowd.ok("POST", block_path(pid, spam_id), crowd.operator)
    once = await snapshot(crowd, pid, spam_id)
    once_blocked(start, once, max_overlap=6)
    await crowd.ok("POST", block_path(pid, spam_id, "unblock"), crowd.operator)
    await crowd.ok("POST", block_path(pid, spam_id), crowd.operator)
    twice = await snapshot(crowd, pid, spam_id)
    # The spammer's answers were collected again the first time: blocking
    # anew takes them out of consensus again but asks for nothing more.
    assert {k: v[0] for k, v in twice.tasks.items()} == {k: v[0] for k, v in once.tasks.items()}
    assert twice.ledger == once.ledger  # their rewards were reversed already
    assert [kind for kind, _ in twice.events].count("worker.blocked") == 2  # a real block each time
