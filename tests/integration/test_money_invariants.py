"""Money stays exact when operators press buttons at the same moment:
concurrent payout runs move each available cent once, no worker account
goes below zero, the audit checks every account, and a project's currency
is fixed once money has moved in it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, text, update

from crowd.api.keys import CLOCK, DATABASE
from crowd.clock import ManualClock
from crowd.config import Settings
from crowd.db.engine import Database
from crowd.db.schema import ledger_transactions, projects
from crowd.payments import store
from crowd.payments.ledger import Books, payout
from crowd.payments.service import approve_due
from tests.support.concurrent import at_once, pooled_crowd
from tests.support.crowd import Crowd

RUNS = 4
REWARD = 100
TASKS = 12


@pytest.fixture
async def pooled(settings: Settings, clock: ManualClock) -> AsyncIterator[Crowd]:
    async with pooled_crowd(settings, clock, RUNS + 2) as crowd:
        yield crowd


async def earn(crowd: Crowd, workers: list[str], tasks: int = TASKS, reward: int = REWARD) -> str:
    """Each worker answers ``tasks`` tasks of a new project at overlap 1 with
    no review period: the approver's next run makes every reward available."""
    pid = (await crowd.new_project(reward=reward, min_overlap=1, max_overlap=1, review_seconds=0))["id"]
    await crowd.submit(pid, tasks * len(workers))
    for worker in workers:
        for _ in range(tasks):
            lease = await crowd.next(worker, pid)
            assert lease is not None
            assert (await crowd.answer(worker, lease["assignment_id"], "cat")).status == 200
    await approve(crowd)
    return str(pid)


async def approve(crowd: Crowd) -> int:
    app = crowd.client.server.app
    assert app is not None
    return await approve_due(app[DATABASE], app[CLOCK])


async def balance(crowd: Crowd, worker: str) -> dict[str, Any]:
    return dict((await crowd.ok("GET", "/api/v1/work/me", worker))["balance"])


async def test_concurrent_payout_runs_pay_each_available_cent_once(pooled: Crowd) -> None:
    crowd = pooled
    workers = await crowd.new_workers("ann", "ben", "cid")
    paid_before = 0
    for round_ in range(3):  # three rounds of earnings, each paid out by four runs at once
        await earn(crowd, workers)
        earned = len(workers) * TASKS * REWARD
        replies = await at_once(crowd.client, RUNS, "POST", "/api/v1/payouts", crowd.operator, {"currency": "USD"})
        assert [status for status, _ in replies] == [201] * RUNS, replies
        runs = [body for _, body in replies]
        assert sum(run["total"] for run in runs) == earned, (round_, runs)
        assert sorted(run["workers"] for run in runs) == [0] * (RUNS - 1) + [len(workers)], runs
        for worker in workers:
            assert await balance(crowd, worker) == {"pending": 0, "available": 0, "currency": "USD"}
        paid_lines = 0
        for run in runs:
            lines = await crowd.ok("GET", f"/api/v1/payouts/{run['id']}?format=json", crowd.operator)
            assert sum(line["amount"] for line in lines["items"]) == run["total"]
            paid_lines += sum(line["amount"] for line in lines["items"])
        assert paid_lines == earned
        paid_before += earned
        books = await audit(crowd)
        assert_clean(books)
        assert books["totals"]["payouts"] == paid_before
        assert books["totals"]["worker_available"] == 0


def database(crowd: Crowd) -> Database:
    app = crowd.client.server.app
    assert app is not None
    return app[DATABASE]


async def organization_of(crowd: Crowd, pid: str) -> str:
    async with database(crowd).read() as conn:
        return str((await conn.execute(select(projects.c.organization_id).where(projects.c.id == pid))).scalar_one())


async def reward_ids(crowd: Crowd, worker_id: str) -> list[int]:
    query = select(ledger_transactions.c.id).where(
        ledger_transactions.c.kind == "reward", ledger_transactions.c.worker_id == worker_id
    )
    async with database(crowd).read() as conn:
        return sorted(int(i) for i in (await conn.execute(query)).scalars())


async def audit(crowd: Crowd) -> dict[str, Any]:
    return dict(await crowd.ok("GET", "/api/v1/ledger/audit", crowd.operator))


def assert_clean(books: dict[str, Any]) -> None:
    assert books["failed"] == [], books
    assert books["balanced"] is True
    for check in ("unbalanced", "negative_balances", "settled_twice", "mismatched_settlements", "payout_mismatches"):
        assert books[check] == [], (check, books)


async def test_the_audit_checks_every_account_and_says_what_broke(crowd: Crowd) -> None:
    ann = await crowd.new_worker("ann")
    ann_id = (await crowd.ok("GET", "/api/v1/work/me", ann))["id"]
    pid = await earn(crowd, [ann], tasks=2, reward=5)  # 10 available
    assert_clean(await audit(crowd))
    org = await organization_of(crowd, pid)
    now = crowd.clock.now()
    async with database(crowd).transaction() as conn:  # books a bug could have written
        run = {"organization_id": org, "currency": "USD", "minimum": 0, "workers": 1, "created_at": now}
        await store.insert_payout_run(conn, {**run, "id": "pay_overdraft", "total": 25})
        await store.post(conn, payout("pay_overdraft", org, "USD", ann_id, 25), now)  # 15 more than ann has
        await store.insert_payout_run(conn, {**run, "id": "pay_misreported", "total": 1})
        await store.post(conn, payout("pay_misreported", org, "USD", ann_id, 2), now)  # says 1, paid 2
    found = await audit(crowd)
    # Every transaction balances and the accounts sum to zero: the totals alone see nothing.
    assert found["unbalanced"] == []
    assert sum(found["totals"].values()) == 0
    assert found["balanced"] is False
    assert found["failed"] == ["negative_balances", "payout_mismatches"]
    assert found["negative_balances"] == [
        {"worker_id": ann_id, "account": "worker_available", "currency": "USD", "balance": -17}
    ]
    assert found["payout_mismatches"] == [
        {"run_id": "pay_misreported", "workers": 1, "total": 1, "lines": 1, "paid": 2}
    ]
    assert found["settled_twice"] == []
    assert found["mismatched_settlements"] == []


async def test_the_audit_finds_a_reward_settled_in_another_currency(crowd: Crowd) -> None:
    pid = (await crowd.new_project(reward=5, min_overlap=3))["id"]
    await crowd.submit(pid, 1)
    ann = await crowd.new_worker("ann")
    ann_id = (await crowd.ok("GET", "/api/v1/work/me", ann))["id"]
    lease = await crowd.next(ann, pid)
    assert lease is not None
    await crowd.answer(ann, lease["assignment_id"], "cat")
    [reward_id] = await reward_ids(crowd, ann_id)
    org = await organization_of(crowd, pid)
    async with database(crowd).transaction() as conn:  # what main did after a currency change
        await store.post(conn, Books(org, "EUR", pid, ann_id).approval(reward_id, 5), crowd.clock.now())
    found = await audit(crowd)
    assert found["failed"] == ["negative_balances", "mismatched_settlements"]
    assert found["negative_balances"] == [
        {"worker_id": ann_id, "account": "worker_pending", "currency": "EUR", "balance": -5}
    ]
    [mismatch] = found["mismatched_settlements"]
    assert mismatch["reward_id"] == reward_id


async def test_the_audit_finds_a_reward_settled_twice(crowd: Crowd, backend: str) -> None:
    if backend != "postgres":
        pytest.skip("the unique index on settles can be dropped for the test on PostgreSQL only")
    pid = (await crowd.new_project(reward=5, min_overlap=3))["id"]
    await crowd.submit(pid, 1)
    ann = await crowd.new_worker("ann")
    ann_id = (await crowd.ok("GET", "/api/v1/work/me", ann))["id"]
    lease = await crowd.next(ann, pid)
    assert lease is not None
    await crowd.answer(ann, lease["assignment_id"], "cat")
    [reward_id] = await reward_ids(crowd, ann_id)
    books = Books(await organization_of(crowd, pid), "USD", pid, ann_id)
    async with database(crowd).transaction() as conn:
        await conn.execute(text("ALTER TABLE ledger_transactions DROP CONSTRAINT uq_ledger_transactions_settles"))
        await store.post(conn, books.approval(reward_id, 5), crowd.clock.now())
        await store.post(conn, books.reversal(reward_id, 5), crowd.clock.now())
    found = await audit(crowd)
    assert found["settled_twice"] == [reward_id]
    assert set(found["failed"]) == {"settled_twice", "negative_balances"}


async def test_a_project_currency_is_fixed_once_money_moves_in_it(crowd: Crowd) -> None:
    pid = (await crowd.new_project(reward=5, min_overlap=2))["id"]
    path = f"/api/v1/projects/{pid}"
    await crowd.submit(pid, 2)
    assert (await crowd.ok("PATCH", path, crowd.operator, {"currency": "EUR"}))["currency"] == "EUR"
    ann = await crowd.new_worker("ann")
    lease = await crowd.next(ann, pid)  # a lease promised 5 (EUR)
    assert lease is not None
    refused = await crowd.call("PATCH", path, crowd.operator, {"currency": "USD"})
    assert (refused.status, refused.body["type"]) == (409, "conflict"), refused.text
    await crowd.answer(ann, lease["assignment_id"], "cat")  # now a posting too
    refused = await crowd.call("PATCH", path, crowd.platform, {"currency": "USD", "reward": 7})
    assert (refused.status, refused.body["type"]) == (409, "conflict"), refused.text
    project = await crowd.ok("PATCH", path, crowd.operator, {"currency": "EUR", "reward": 7})  # unchanged: fine
    assert (project["currency"], project["reward"]) == ("EUR", 7)
    assert await balance(crowd, ann) == {"pending": 5, "available": 0, "currency": "EUR"}


async def test_a_reward_is_settled_in_the_currency_it_was_posted_in(crowd: Crowd) -> None:
    """Should a currency change ever slip past the check (it races an
    answer in flight), each reward still leaves the account it went into."""
    pid = (await crowd.new_project(reward=5, min_overlap=2, max_overlap=2, review_seconds=0))["id"]
    await crowd.submit(pid, 1)
    ann, ben = await crowd.new_workers("ann", "ben")
    lease = await crowd.next(ann, pid)
    assert lease is not None
    await crowd.answer(ann, lease["assignment_id"], "cat")  # 5 USD pending
    async with database(crowd).transaction() as conn:
        await conn.execute(update(projects).where(projects.c.id == pid).values(currency="EUR"))
    lease = await crowd.next(ben, pid)
    assert lease is not None
    await crowd.answer(ben, lease["assignment_id"], "cat")  # 5 EUR
    assert await approve(crowd) == 2
    assert (await crowd.ok("GET", "/api/v1/work/me", ann))["balances"] == [
        {"currency": "USD", "pending": 0, "available": 5}
    ]
    assert (await crowd.ok("GET", "/api/v1/work/me", ben))["balances"] == [
        {"currency": "EUR", "pending": 0, "available": 5}
    ]
    assert_clean(await audit(crowd))
