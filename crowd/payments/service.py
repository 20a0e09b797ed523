"""Use cases of pay. The hooks (``lease_reward``, ``pay_answer``,
``on_blocked``) run inside the transaction of the claim, answer or block
that causes them, so money and work never part: no answer without its
reward, no reward without its answer.

A reward is approved, and its bonus paid, at one moment only: the end of
its review period (``review_seconds`` after the answer), for gold and real
work alike. Approving at a task's completion, as before, told a worker
which of their tasks were real: gold never completes, so its rewards waited
for the review period and earned no bonus (docs/security.md)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.assignment.store import Assignment
from crowd.clock import Clock
from crowd.db.engine import Database
from crowd.errors import Conflict, LeaseExpired, NotFound, ValidationFailed
from crowd.ids import OrganizationId, ProjectId, WorkerId, new_id
from crowd.payments import store
from crowd.payments.ledger import AccountType, Books, Transaction, payout
from crowd.payments.policy import bonus_amount, cost_to_finish
from crowd.projects.access import require_project
from crowd.projects.models import Project

log = logging.getLogger(__name__)


class BudgetExhausted(Exception):
    """The project's budget cannot cover another lease."""

    def __init__(self, project: Project) -> None:
        super().__init__(project.id)
        self.project = project


def books(project: Project, worker_id: WorkerId) -> Books:
    return Books(project.organization_id, project.currency, project.id, worker_id)


async def lease_reward(conn: AsyncConnection, project: Project) -> tuple[int, bool]:
    """The reward a new lease is granted with, and whether the budget
    reserved it. Raises :class:`BudgetExhausted` when it would not fit."""
    if project.reward == 0 or project.budget is None:
        return project.reward, False
    if not await store.reserve(conn, project.id, project.reward):
        raise BudgetExhausted(project)
    return project.reward, True


async def release_reward(conn: AsyncConnection, project_id: ProjectId, reward: int, reserved: bool) -> None:
    """A lease ends without an answer (skip), or a claim found no task."""
    if reserved and reward:
        await store.settle_reservation(conn, project_id, reward, spent=False)


async def pay_answer(
    conn: AsyncConnection, project: Project, assignment: Assignment, answer_id: int, *, held_slot: bool, now: datetime
) -> None:
    """Post the answer's reward to the worker's pending balance."""
    reward = assignment.reward
    if reward == 0:
        return
    if project.budget is not None:
        if assignment.reserved:
            await store.settle_reservation(conn, project.id, reward, spent=True)
        elif held_slot:  # granted before the project had a budget: it is owed
            await store.add_spend(conn, project.id, reward)
        elif not await store.reserve(conn, project.id, reward, post_now=True):
            raise LeaseExpired("the lease expired and the project's budget is spent")
    due = now + timedelta(seconds=project.review_seconds)
    await store.post(conn, books(project, assignment.worker_id).reward(answer_id, reward), now, due_at=due)


async def on_blocked(conn: AsyncConnection, project: Project, worker_id: WorkerId, now: datetime) -> int:
    """Reverse a blocked worker's pending rewards in the project, if the
    project says so; how many."""
    if not project.reject_blocked:
        return 0
    pending = await store.pending_rewards_of_worker(conn, project.id, worker_id)
    for reward in pending:
        await store.post(conn, _books_of(reward).reversal(reward.id, reward.amount), now)
        if project.budget is not None:
            await store.add_spend(conn, project.id, -reward.amount)
    return len(pending)


def _books_of(reward: store.PendingReward) -> Books:
    """The books a reward was posted to. A reward is settled in its own
    organization and currency, whatever its project says today: the money
    leaves the pending account it went into, never another one."""
    return Books(reward.organization_id, reward.currency, reward.project_id, reward.worker_id)


def approval(reward: store.PendingReward) -> Transaction:
    return _books_of(reward).approval(reward.id, reward.amount)


async def approve_due(db: Database, clock: Clock, batch: int = 500) -> int:
    """Approve every reward whose review period is over, each with its bonus
    when its answer agrees with its task's decided label; how many."""
    approved = 0
    while True:
        async with db.transaction() as conn:
            now = clock.now()
            due = await store.rewards_due(conn, now, batch)
            terms = await store.bonus_terms(conn, [r.id for r in due])
            approvals: list[tuple[Transaction, datetime | None]] = []
            bonuses: list[tuple[Transaction, datetime | None]] = []
            for r in due:
                approvals.append((approval(r), None))
                if (amount := await _bonus(conn, r, terms.get(r.id))) > 0:
                    bonuses.append((_books_of(r).bonus(terms[r.id].task_id, amount), None))
            posted = await store.post_all(conn, approvals + bonuses, now)
            approved += sum(tx_id is not None for tx_id in posted[: len(approvals)])
        if len(due) < batch:
            return approved


async def currency_fixed(conn: AsyncConnection, project_id: ProjectId) -> bool:
    """Whether the project's currency can no longer change: money has moved
    in it (a posting names the project), or a lease was promised a reward,
    which its answer would post in the currency of that moment."""
    return await store.project_has_postings(conn, project_id) or await store.project_has_rewarded_leases(
        conn, project_id
    )


async def _bonus(conn: AsyncConnection, reward: store.PendingReward, terms: store.BonusTerms | None) -> int:
    """The bonus that comes with the reward's approval: the project's, scaled
    by the worker's reliability, if the answer agrees with its task's decided
    label, the worker is not blocked there, and the budget has room. A task
    not yet decided when the review period ends pays none."""
    if terms is None or terms.bonus <= 0 or not terms.agrees or terms.blocked:
        return 0
    amount = bonus_amount(terms.bonus, terms.reliability)
    if amount and terms.budgeted and not await store.reserve(conn, reward.project_id, amount, post_now=True):
        return 0
    return amount


async def on_budget_change(conn: AsyncConnection, before: Project, after: Project, now: datetime) -> None:
    """Start or stop tracking committed spend when a budget appears or goes."""
    if before.budget is None and after.budget is not None:
        await store.start_budget(conn, after.id, now)
    elif before.budget is not None and after.budget is None:
        await store.stop_budget(conn, after.id)


# reading ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spend:
    project: Project
    committed: int
    posted: int
    pending: int
    approved: int
    bonuses: int
    reversed: int
    remaining_answers: int
    daily: list[tuple[str, str, int]]

    @property
    def cost_to_finish(self) -> int:
        return cost_to_finish(self.remaining_answers, self.project.reward)


async def spend(db: Database, organization_id: OrganizationId, project_id: str) -> Spend:
    async with db.read() as conn:
        project = await require_project(conn, organization_id, project_id)
        totals = await store.project_totals(conn, project.id)
        posted = -(await store.account_total(conn, AccountType.PROJECT, project_id=project.id))
        tracked = await store.committed(conn, project.id)
        reserved = tracked[1] if tracked else await store.live_rewards(conn, project.id)
        remaining = await store.remaining_answers(conn, project.id)
        daily = await store.daily_spend(conn, project.id)
    approved = totals["approval"]
    return Spend(
        project=project,
        committed=posted + reserved,
        posted=posted,
        pending=totals["reward"] - approved - totals["reversal"],
        approved=approved,
        bonuses=totals["bonus"],
        reversed=totals["reversal"],
        remaining_answers=remaining,
        daily=daily,
    )


async def balances(db: Database, worker_id: WorkerId) -> list[store.Balance]:
    async with db.read() as conn:
        return await store.worker_balances(conn, worker_id)


async def earnings_in_project(db: Database, project_id: ProjectId, worker_ids: list[str]) -> dict[str, store.Earnings]:
    async with db.read() as conn:
        return await store.earnings_in_project(conn, project_id, worker_ids)


async def history(db: Database, worker_id: WorkerId, before: int | None, limit: int) -> list[store.HistoryItem]:
    async with db.read() as conn:
        return await store.worker_history(conn, worker_id, before, limit)


@dataclass(frozen=True, slots=True)
class Audit:
    """The organization's books checked as a whole and account by account.
    ``balanced`` is true only when every check passes; ``failed`` names the
    checks that did not, and each check's field lists what broke it."""

    balanced: bool
    transactions: int
    unbalanced: list[int]
    totals: dict[str, int]
    failed: list[str]
    negative_balances: list[store.NegativeBalance]
    settled_twice: list[int]
    mismatched_settlements: list[store.Mismatch]
    payout_mismatches: list[store.PayoutMismatch]


async def audit(db: Database, organization_id: OrganizationId) -> Audit:
    async with db.read() as conn:
        n, unbalanced, totals = await store.audit(conn, organization_id)
        negative = await store.negative_balances(conn, organization_id)
        twice = await store.settled_twice(conn, organization_id)
        mismatched = await store.mismatched_settlements(conn, organization_id)
        payouts = await store.payout_mismatches(conn, organization_id)
    checks = {
        "unbalanced_transactions": not unbalanced,
        "accounts_sum_to_zero": sum(totals.values()) == 0,
        "negative_balances": not negative,
        "settled_twice": not twice,
        "mismatched_settlements": not mismatched,
        "payout_mismatches": not payouts,
    }
    failed = [name for name, passed in checks.items() if not passed]
    return Audit(not failed, n, unbalanced, totals, failed, negative, twice, mismatched, payouts)


# payouts ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PayoutRun:
    id: str
    currency: str
    minimum: int
    workers: int
    total: int
    created_at: datetime


async def create_payout_run(
    db: Database, clock: Clock, organization_id: OrganizationId, currency: str, minimum: int
) -> PayoutRun:
    """Move every worker's available balance (in this organization and
    currency, if at least ``minimum``) to payouts, in one transaction."""
    if minimum < 0:
        raise ValidationFailed("minimum must be >= 0", errors=[{"loc": ["minimum"], "msg": "must be >= 0"}])
    run_id = new_id("pay")
    now = clock.now()
    async with db.transaction() as conn:
        await store.lock_payouts(conn, organization_id, currency)  # one run at a time per organization and currency
        owed = await store.available_balances(conn, organization_id, currency, minimum)
        await store.insert_payout_run(
            conn,
            {
                "id": run_id,
                "organization_id": organization_id,
                "currency": currency,
                "minimum": minimum,
                "workers": len(owed),
                "total": sum(amount for _, amount in owed),
                "created_at": now,
            },
        )
        postings = [(payout(run_id, organization_id, currency, worker_id, amount), None) for worker_id, amount in owed]
        await store.post_all(conn, postings, now)
        await _refuse_overdraft(conn, organization_id, currency, [worker_id for worker_id, _ in owed])
    return PayoutRun(run_id, currency, minimum, len(owed), sum(a for _, a in owed), now)


async def _refuse_overdraft(
    conn: AsyncConnection, organization_id: OrganizationId, currency: str, worker_ids: list[WorkerId]
) -> None:
    """Under the payout lock, after the postings: no paid worker's account
    may be below zero, or the run rolls back and pays nothing."""
    if not worker_ids:
        return
    overdrawn = await store.negative_balances(conn, organization_id, currency=currency, worker_ids=worker_ids)
    if overdrawn:
        accounts = ", ".join(f"{b.worker_id} {b.account} {b.balance}" for b in overdrawn)
        log.error("a payout run would overdraw worker accounts", extra={"accounts": accounts})
        raise Conflict(f"the payout run would leave accounts below zero ({accounts}); nothing was paid")


async def payout_lines(db: Database, organization_id: OrganizationId, run_id: str) -> list[tuple[str, int, str, str]]:
    async with db.read() as conn:
        if await store.payout_run(conn, run_id, organization_id) is None:
            raise NotFound(f"no payout run {run_id}")
        return await store.payout_lines(conn, run_id)
