"""A Hypothesis state machine drives random sequences of answers, retries,
skips, expiries, blocks (repeated, and by several operators at once),
approvals, payout runs (several at once), currency changes and expert
decisions through the real server and database, beside an in-memory model
of what everybody should have earned. After every step: the audit is clean
(every transaction balances, the accounts sum to zero, no worker account is
below zero, no reward settled twice or elsewhere, every payout run's lines
match it), each worker's pending, available and paid-out money equals the
model's rewards + bonuses - reversals - payouts (so each available cent was
paid once), and no task asks for more than its project's max_overlap."""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from crowd.api.keys import CLOCK, DATABASE
from crowd.app import create_app
from crowd.clock import ManualClock
from crowd.config import Settings
from crowd.db.schema import projects, tasks
from crowd.payments.service import approve_due
from tests.support import services
from tests.support.concurrent import at_once
from tests.support.crowd import Crowd

REWARD, BONUS, LEASE, REVIEW = 5, 10, 60, 100
BONUS_PAID = 7  # BONUS x the assumed reliability (0.7): no fit runs here
LABELS = ["cat", "dog"]
WORKERS = 3


@dataclass
class Reward:
    worker: int
    status: str = "pending"  # -> available | reversed
    agrees: bool | None = None  # with the consensus, once the task completes


@dataclass
class Model:
    rewards: list[Reward] = field(default_factory=list)
    bonus: dict[int, int] = field(default_factory=dict)
    paid: dict[int, int] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    tasks: dict[str, list[tuple[int, str, Reward]]] = field(default_factory=dict)

    def expected(self, worker: int) -> tuple[int, int, int]:
        """(pending, available, paid out) the worker should have."""
        pending = sum(REWARD for r in self.rewards if r.worker == worker and r.status == "pending")
        earned = sum(REWARD for r in self.rewards if r.worker == worker and r.status == "available")
        earned += self.bonus.get(worker, 0)
        paid = self.paid.get(worker, 0)
        return pending, earned - paid, paid

    def answered(self, worker: int, task: str, label: str) -> None:
        reward = Reward(worker)
        self.rewards.append(reward)
        answers = self.tasks.setdefault(task, [])
        answers.append((worker, label, reward))
        if len(answers) == 2:  # min = max overlap = 2: the task completes
            # on the votes of the workers not blocked now (recollection); no
            # fit has run, so one vote decides, and a tie (or no vote) goes to
            # the first label
            votes = {said for who, said, _ in answers if who not in self.blocked}
            consensus = votes.pop() if len(votes) == 1 else LABELS[0]
            for _, said, earned in answers:
                earned.agrees = said == consensus

    def approved(self) -> None:
        """The review period of every pending reward is over: each is
        approved, with a bonus if its task completed with its answer and the
        worker is not blocked (all at once, for gold and real work alike)."""
        for reward in self.rewards:
            if reward.status == "pending":
                reward.status = "available"
                if reward.agrees and reward.worker not in self.blocked:
                    self.bonus[reward.worker] = self.bonus.get(reward.worker, 0) + BONUS_PAID


class LedgerMachine(RuleBasedStateMachine):
    backend = "sqlite"
    template: Any = None

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.model = Model()
        self.leases: dict[int, dict[str, Any]] = {}
        self.last_answer: dict[int, tuple[str, str]] = {}
        self.cleanup: list[Any] = []
        self.currency = "USD"
        self.currency_fixed = False  # a lease was promised a reward
        self.decided: dict[str, str] = {}  # expert decisions in the unpaid project

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    @initialize()
    def start(self) -> None:
        self.run(self._start())

    async def _start(self) -> None:
        if self.backend == "sqlite":
            folder = Path(tempfile.mkdtemp(prefix="crowd-ledger-"))
            shutil.copy(self.template, folder / "crowd.db")
            url = f"sqlite+aiosqlite:///{folder / 'crowd.db'}"
            self.cleanup.append(lambda: shutil.rmtree(folder, ignore_errors=True))
            extra: dict[str, Any] = {}
        else:
            name = await services.create_database(self.template)
            url = services.with_database(services.POSTGRES_URL, name)
            prefix = f"crowdtest:{uuid.uuid4().hex[:12]}:"
            extra = {"redis_url": services.REDIS_URL, "redis_prefix": prefix}
            self.cleanup.append(lambda: asyncio.run(services.drop_database(name)))
            self.cleanup.append(lambda: asyncio.run(services.delete_redis_keys(prefix)))
        config = Settings(database_url=url, sweep_interval_seconds=3600, refit_interval_seconds=3600,
                          approve_interval_seconds=3600, worker_rate_limit=0, key_rate_limit=0, **extra)  # fmt: skip
        clock = ManualClock()
        self.client = TestClient(TestServer(create_app(config, clock=clock, rng=random.Random(1))))
        await self.client.start_server()
        self.crowd = await Crowd.start(self.client, clock)
        project = await self.crowd.new_project(
            labels=LABELS, reward=REWARD, bonus=BONUS, min_overlap=2, max_overlap=2, gold_rate=0,
            onboarding_gold_rate=0, lease_seconds=LEASE, review_seconds=REVIEW, reject_blocked=True,
            recollect_blocked=True,
        )  # fmt: skip
        self.pid = project["id"]
        await self.crowd.submit(self.pid, 12)
        # Unpaid, with room to collect again: blocks reopen its tasks (up to
        # max_overlap), and an expert decides some of them.
        unpaid = await self.crowd.new_project(
            labels=LABELS, min_overlap=2, max_overlap=3, confidence_target=0.8, gold_rate=0,
            onboarding_gold_rate=0, lease_seconds=LEASE, recollect_blocked=True,
        )  # fmt: skip
        self.unpaid = unpaid["id"]
        await self.crowd.submit(self.unpaid, 6, prefix="u")
        self.tokens = await self.crowd.new_workers(*(f"w{i}" for i in range(WORKERS)))
        self.ids = [(await self.crowd.ok("GET", "/api/v1/work/me", t))["id"] for t in self.tokens]

    def teardown(self) -> None:
        if hasattr(self, "client"):
            self.run(self.client.close())
        self.loop.close()
        for step in reversed(self.cleanup):
            step()

    @rule(worker=st.integers(0, WORKERS - 1))
    def lease(self, worker: int) -> None:
        reply = self.run(self.crowd.call("GET", f"/api/v1/work/next?project_id={self.pid}", self.tokens[worker]))
        if worker in self.model.blocked:
            assert reply.status == 403
            return
        assert reply.status in (200, 204), reply.text
        if reply.status == 200:
            self.leases[worker] = reply.body
            self.currency_fixed = True

    @precondition(lambda self: bool(self.leases))
    @rule(data=st.data(), label=st.sampled_from(LABELS))
    def answer(self, data: st.DataObject, label: str) -> None:
        worker = data.draw(st.sampled_from(sorted(self.leases)))
        lease = self.leases.pop(worker)
        reply = self.run(self.crowd.answer(self.tokens[worker], lease["assignment_id"], label))
        if worker in self.model.blocked:
            assert reply.status == 403
            return
        assert reply.status == 200, reply.text
        self.model.answered(worker, lease["data"]["text"], label)
        self.last_answer[worker] = (lease["assignment_id"], label)

    @precondition(lambda self: bool(self.last_answer))
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        worker = data.draw(st.sampled_from(sorted(self.last_answer)))
        assignment, label = self.last_answer[worker]
        reply = self.run(self.crowd.answer(self.tokens[worker], assignment, label))
        assert reply.status == 200, reply.text  # the stored reply again, blocked since or not

    @precondition(lambda self: bool(self.leases))
    @rule(data=st.data())
    def skip(self, data: st.DataObject) -> None:
        worker = data.draw(st.sampled_from(sorted(self.leases)))
        lease = self.leases.pop(worker)
        path = f"/api/v1/work/assignments/{lease['assignment_id']}/skip"
        reply = self.run(self.crowd.call("POST", path, self.tokens[worker]))
        assert reply.status == 200, reply.text

    @rule()
    def expire(self) -> None:
        self.crowd.clock.advance(LEASE + 1)
        self.leases.clear()

    @rule()
    def approve(self) -> None:
        self.crowd.clock.advance(REVIEW + 1)
        self.leases.clear()
        app = self.client.server.app
        assert app is not None
        self.run(approve_due(app[DATABASE], app[CLOCK]))
        self.model.approved()

    @rule(worker=st.integers(0, WORKERS - 1), blocked=st.booleans(), operators=st.integers(1, 3))
    def block(self, worker: int, blocked: bool, operators: int) -> None:
        """Block or unblock in both projects, pressed by one operator or by
        several at the same moment; blocking a blocked worker is one of the
        sequences drawn."""
        action = "block" if blocked else "unblock"
        for pid in (self.pid, self.unpaid):
            path = f"/api/v1/projects/{pid}/workers/{self.ids[worker]}/{action}"
            replies = self.run(at_once(self.client, operators, "POST", path, self.crowd.operator))
            assert [status for status, _ in replies] == [200] * operators, replies
        if blocked and worker not in self.model.blocked:
            for reward in self.model.rewards:
                if reward.worker == worker and reward.status == "pending":
                    reward.status = "reversed"
        (self.model.blocked.add if blocked else self.model.blocked.discard)(worker)

    @rule(runs=st.integers(1, 4))
    def payout(self, runs: int) -> None:
        """``runs`` payout runs at the same moment: together they pay each
        worker's available money once."""
        body = {"currency": self.currency}
        replies = self.run(at_once(self.client, runs, "POST", "/api/v1/payouts", self.crowd.operator, body))
        assert [status for status, _ in replies] == [201] * runs, replies
        owed = {worker: self.model.expected(worker)[1] for worker in range(WORKERS)}
        assert sum(run["total"] for _, run in replies) == sum(owed.values()), (replies, owed)
        assert sum(run["workers"] for _, run in replies) == sum(amount > 0 for amount in owed.values())
        for worker, available in owed.items():
            self.model.paid[worker] = self.model.paid.get(worker, 0) + available

    @rule(currency=st.sampled_from(["EUR", "USD", "GBP"]))
    def change_currency(self, currency: str) -> None:
        """Allowed until a lease was promised a reward, then a 409."""
        reply = self.run(
            self.crowd.call("PATCH", f"/api/v1/projects/{self.pid}", self.crowd.operator, {"currency": currency})
        )
        if currency == self.currency or not self.currency_fixed:
            assert reply.status == 200, reply.text
            self.currency = currency
        else:
            assert (reply.status, reply.body["type"]) == (409, "conflict"), reply.text

    @rule(worker=st.integers(0, WORKERS - 1), label=st.sampled_from(LABELS))
    def work_unpaid(self, worker: int, label: str) -> None:
        reply = self.run(self.crowd.call("GET", f"/api/v1/work/next?project_id={self.unpaid}", self.tokens[worker]))
        if worker in self.model.blocked:
            assert reply.status == 403
            return
        assert reply.status in (200, 204), reply.text
        if reply.status == 200:
            answered = self.run(self.crowd.answer(self.tokens[worker], reply.body["assignment_id"], label))
            assert answered.status == 200, answered.text

    @rule(task=st.integers(0, 5), label=st.sampled_from(LABELS))
    def decide(self, task: int, label: str) -> None:
        external_id = f"u-{task}"
        path = f"/api/v1/projects/{self.unpaid}/review/{external_id}"
        self.run(self.crowd.ok("POST", path, self.crowd.operator, {"label": label}))
        self.decided[external_id] = label

    @invariant()
    def books_balance(self) -> None:
        if not hasattr(self, "crowd"):
            return
        audit = self.run(self.crowd.ok("GET", "/api/v1/ledger/audit", self.crowd.operator))
        assert audit["failed"] == [], audit
        assert audit["balanced"], audit
        assert audit["unbalanced"] == []
        assert audit["negative_balances"] == []
        assert sum(audit["totals"].values()) == 0
        paid_total = 0
        for worker, token in enumerate(self.tokens):
            me = self.run(self.crowd.ok("GET", "/api/v1/work/me", token))
            pending, available, paid = self.model.expected(worker)
            balance = me["balance"]
            assert (balance["pending"], balance["available"]) == (pending, available), (worker, me, self.model)
            assert balance["pending"] >= 0
            assert balance["available"] >= 0
            paid_total += paid
        assert audit["totals"]["payouts"] == paid_total

    @invariant()
    def overlap_bounded(self) -> None:
        """No task's target, nor its answers, past its project's max_overlap;
        every expert decision stands."""
        if not hasattr(self, "crowd"):
            return
        app = self.client.server.app
        assert app is not None
        query = select(
            tasks.c.external_id, tasks.c.target_overlap, tasks.c.answer_count, tasks.c.status,
            tasks.c.label, projects.c.max_overlap,
        ).join(projects, projects.c.id == tasks.c.project_id)  # fmt: skip

        async def read() -> list[Any]:
            async with app[DATABASE].read() as conn:
                return list(await conn.execute(query))

        for external_id, target, answers, status, label, max_overlap in self.run(read()):
            assert target <= max_overlap, (external_id, target, max_overlap)
            assert answers <= max_overlap, (external_id, answers, max_overlap)
            if external_id in self.decided:
                assert (status, label) == ("completed", self.decided[external_id])


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_ledger_always_balances(backend: str, request: pytest.FixtureRequest) -> None:
    if backend == "postgres":
        request.applymarker(pytest.mark.postgres)
        template = request.getfixturevalue("postgres_template")
        request.getfixturevalue("redis_available")
    else:
        template = request.getfixturevalue("sqlite_template")
    machine = type(f"LedgerMachine_{backend}", (LedgerMachine,), {"backend": backend, "template": template})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=10 if backend == "sqlite" else 6,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
