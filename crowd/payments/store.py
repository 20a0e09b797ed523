"""SQL of pay: postings, budget reservations, balances, reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, insert, literal, or_, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.db.hot import Hot
from crowd.db.schema import (
    answers,
    assignments,
    ledger_entries,
    ledger_transactions,
    payout_runs,
    project_spend,
    projects,
    tasks,
    worker_stats,
)
from crowd.ids import ProjectId, TaskId, WorkerId
from crowd.payments.ledger import AccountType, Kind, Transaction

# SQLite's posting, a transaction then its entries (PostgreSQL: PG_POST_ALL)
_SQLITE_POST = (
    sqlite.insert(ledger_transactions)
    .on_conflict_do_nothing(index_elements=[ledger_transactions.c.idempotency_key])
    .returning(ledger_transactions.c.id)
)
_INSERT_ENTRIES = insert(ledger_entries)


async def post(conn: AsyncConnection, tx: Transaction, now: datetime, *, due_at: datetime | None = None) -> int | None:
    """Post a balanced transaction; its id, or None if its idempotency key
    was posted before (a retry: nothing is written twice). ``due_at``: when
    a reward approves itself."""
    return (await post_all(conn, [(tx, due_at)], now))[0]


async def post_all(
    conn: AsyncConnection, postings: Sequence[tuple[Transaction, datetime | None]], now: datetime
) -> list[int | None]:
    """:func:`post` of each ``(transaction, due_at)``, in order; on
    PostgreSQL one statement writes them all with their entries."""
    if not postings:
        return []
    if conn.dialect.name != "postgresql":
        return [await _post_one(conn, tx, now, due_at) for tx, due_at in postings]
    rows = await PG_POST_ALL.rows(conn, pg_post_params(postings, now))
    posted: dict[str, int] = {row["idempotency_key"]: row["id"] for row in rows}
    return [posted.get(tx.key) for tx, _ in postings]


def pg_post_params(postings: Sequence[tuple[Transaction, datetime | None]], now: datetime) -> dict[str, Any]:
    """The parameters of :data:`PG_POST_ALL`: a column of values per array."""
    txs = [tx for tx, _ in postings]
    entries = [(tx.key, e) for tx in txs for e in tx.entries]
    return {
        "keys": [tx.key for tx in txs],
        "kinds": [tx.kind.value for tx in txs],
        "organizations": [tx.organization_id for tx in txs],
        "projects": [tx.project_id for tx in txs],
        "workers": [tx.worker_id for tx in txs],
        "answers": [tx.answer_id for tx in txs],
        "settles": [tx.settles for tx in txs],
        "payout_runs": [tx.payout_run_id for tx in txs],
        "currencies": [tx.currency for tx in txs],
        "created": [now] * len(txs),
        "due": [due_at for _, due_at in postings],
        "entry_keys": [key for key, _ in entries],
        "entry_types": [e.account.type.value for _, e in entries],
        "entry_organizations": [e.account.organization_id for _, e in entries],
        "entry_projects": [e.account.project_id for _, e in entries],
        "entry_workers": [e.account.worker_id for _, e in entries],
        "entry_currencies": [e.account.currency for _, e in entries],
        "entry_amounts": [e.amount for _, e in entries],
    }


# The transactions and their entries in one statement: the entries join the
# transactions this statement inserted, so a key posted before (ON CONFLICT
# DO NOTHING) writes no entries either.
PG_POST_ALL = Hot(
    text(
        """
    WITH tx AS (
        INSERT INTO ledger_transactions (idempotency_key, kind, organization_id, project_id, worker_id,
                                         answer_id, settles, payout_run_id, currency, created_at, due_at)
        SELECT * FROM unnest(
            CAST(:keys AS VARCHAR[]), CAST(:kinds AS VARCHAR[]), CAST(:organizations AS VARCHAR[]),
            CAST(:projects AS VARCHAR[]), CAST(:workers AS VARCHAR[]), CAST(:answers AS BIGINT[]),
            CAST(:settles AS BIGINT[]), CAST(:payout_runs AS VARCHAR[]), CAST(:currencies AS VARCHAR[]),
            CAST(:created AS TIMESTAMPTZ[]), CAST(:due AS TIMESTAMPTZ[]))
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING idempotency_key, id
    ), entries AS (
        INSERT INTO ledger_entries (transaction_id, account_type, organization_id, project_id, worker_id,
                                    currency, amount)
        SELECT tx.id, e.account_type, e.organization_id, e.project_id, e.worker_id, e.currency, e.amount
        FROM unnest(
            CAST(:entry_keys AS VARCHAR[]), CAST(:entry_types AS VARCHAR[]),
            CAST(:entry_organizations AS VARCHAR[]), CAST(:entry_projects AS VARCHAR[]),
            CAST(:entry_workers AS VARCHAR[]), CAST(:entry_currencies AS VARCHAR[]),
            CAST(:entry_amounts AS BIGINT[])
        ) AS e(key, account_type, organization_id, project_id, worker_id, currency, amount)
        JOIN tx ON tx.idempotency_key = e.key
    )
    SELECT idempotency_key, id FROM tx
    """
    )
)


async def _post_one(conn: AsyncConnection, tx: Transaction, now: datetime, due_at: datetime | None) -> int | None:
    values = {
        "idempotency_key": tx.key,
        "kind": tx.kind.value,
        "organization_id": tx.organization_id,
        "project_id": tx.project_id,
        "worker_id": tx.worker_id,
        "answer_id": tx.answer_id,
        "settles": tx.settles,
        "payout_run_id": tx.payout_run_id,
        "currency": tx.currency,
        "created_at": now,
        "due_at": due_at,
    }
    tx_id = (await conn.execute(_SQLITE_POST, values)).scalar()
    if tx_id is None:
        return None
    await conn.execute(
        _INSERT_ENTRIES,
        [
            {
                "transaction_id": tx_id,
                "account_type": e.account.type.value,
                "organization_id": e.account.organization_id,
                "project_id": e.account.project_id,
                "worker_id": e.account.worker_id,
                "currency": e.account.currency,
                "amount": e.amount,
            }
            for e in tx.entries
        ],
    )
    return int(tx_id)


# budgets -------------------------------------------------------------------

_WITHIN_BUDGET = and_(
    projects.c.id == project_spend.c.project_id,
    projects.c.budget.is_not(None),
)


async def reserve(conn: AsyncConnection, project_id: ProjectId, amount: int, *, post_now: bool = False) -> bool:
    """Commit ``amount`` of the project's budget, if it fits: as a reserved
    reward of a new lease, or (``post_now``) as money spent at once. The
    check and the update are one statement, so concurrent claims cannot
    both take the last of a budget."""
    column = project_spend.c.posted if post_now else project_spend.c.reserved
    statement = (
        update(project_spend)
        .where(
            project_spend.c.project_id == project_id,
            _WITHIN_BUDGET,
            project_spend.c.posted + project_spend.c.reserved + amount <= projects.c.budget,
        )
        .values({column.name: column + amount})
    )
    return (await conn.execute(statement)).rowcount == 1


async def settle_reservation(conn: AsyncConnection, project_id: ProjectId, amount: int, *, spent: bool) -> None:
    """A reserved reward ends: paid (``spent``) or released."""
    values: dict[str, Any] = {"reserved": project_spend.c.reserved - amount}
    if spent:
        values["posted"] = project_spend.c.posted + amount
    await conn.execute(update(project_spend).where(project_spend.c.project_id == project_id).values(**values))


async def add_spend(conn: AsyncConnection, project_id: ProjectId, amount: int) -> None:
    """Spend (or, negative, give back) money outside a reservation."""
    await conn.execute(
        update(project_spend)
        .where(project_spend.c.project_id == project_id)
        .values(posted=project_spend.c.posted + amount)
    )


async def start_budget(conn: AsyncConnection, project_id: ProjectId, now: datetime) -> None:
    """Begin tracking a project's committed spend: what it has posted so
    far, plus the rewards of its live leases, which become reserved."""
    posted = -(await account_total(conn, AccountType.PROJECT, project_id=project_id))
    live = and_(assignments.c.project_id == project_id, assignments.c.status == "leased", assignments.c.reward > 0)
    reserved = (await conn.execute(select(func.coalesce(func.sum(assignments.c.reward), 0)).where(live))).scalar_one()
    await conn.execute(update(assignments).where(live).values(reserved=True))
    await conn.execute(insert(project_spend).values(project_id=project_id, posted=posted, reserved=int(reserved)))


async def stop_budget(conn: AsyncConnection, project_id: ProjectId) -> None:
    await conn.execute(update(assignments).where(assignments.c.project_id == project_id).values(reserved=False))
    await conn.execute(project_spend.delete().where(project_spend.c.project_id == project_id))


async def live_rewards(conn: AsyncConnection, project_id: ProjectId) -> int:
    """Rewards promised to the project's live leases."""
    live = and_(assignments.c.project_id == project_id, assignments.c.status == "leased")
    query = select(func.coalesce(func.sum(assignments.c.reward), 0)).where(live)
    return int((await conn.execute(query)).scalar_one())


async def committed(conn: AsyncConnection, project_id: ProjectId) -> tuple[int, int] | None:
    query = select(project_spend.c.posted, project_spend.c.reserved).where(project_spend.c.project_id == project_id)
    row = (await conn.execute(query)).first()
    return None if row is None else (int(row[0]), int(row[1]))


async def project_has_postings(conn: AsyncConnection, project_id: ProjectId) -> bool:
    query = select(ledger_transactions.c.id).where(ledger_transactions.c.project_id == project_id).limit(1)
    return (await conn.execute(query)).first() is not None


async def project_has_rewarded_leases(conn: AsyncConnection, project_id: ProjectId) -> bool:
    """Whether a lease of the project was granted with a reward. Through its
    tasks (``ix_tasks_project_id_id``, then ``ix_assignments_task_id``): no
    index of assignments leads with the project."""
    query = (
        select(assignments.c.id)
        .join(tasks, tasks.c.id == assignments.c.task_id)
        .where(tasks.c.project_id == project_id, assignments.c.reward > 0)
        .limit(1)
    )
    return (await conn.execute(query)).first() is not None


# settling rewards ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingReward:
    id: int
    project_id: ProjectId
    worker_id: WorkerId
    organization_id: str
    currency: str
    amount: int


_reward = ledger_transactions.alias("reward")
_settling = ledger_transactions.alias("settling")


def _pending_rewards() -> Any:
    """Reward transactions no approval or reversal has settled, with the amount."""
    settled = select(literal(1)).where(_settling.c.settles == _reward.c.id).correlate(_reward)
    return (
        select(
            _reward.c.id,
            _reward.c.project_id,
            _reward.c.worker_id,
            _reward.c.organization_id,
            _reward.c.currency,
            ledger_entries.c.amount,
        )
        .join(ledger_entries, ledger_entries.c.transaction_id == _reward.c.id)
        .where(
            _reward.c.kind == Kind.REWARD.value,
            ledger_entries.c.account_type == AccountType.WORKER_PENDING.value,
            ~settled.exists(),
        )
    )


async def pending_rewards_of_worker(
    conn: AsyncConnection, project_id: ProjectId, worker_id: WorkerId
) -> list[PendingReward]:
    query = _pending_rewards().where(_reward.c.project_id == project_id, _reward.c.worker_id == worker_id)
    return [PendingReward(*row) for row in await conn.execute(query)]


async def rewards_due(conn: AsyncConnection, now: datetime, limit: int) -> list[PendingReward]:
    """Unsettled rewards whose review period is over, oldest first."""
    query = _pending_rewards().where(_reward.c.due_at <= now).order_by(_reward.c.due_at, _reward.c.id).limit(limit)
    return [PendingReward(*row) for row in await conn.execute(query)]


@dataclass(frozen=True, slots=True)
class BonusTerms:
    """What decides a bonus when a reward is approved."""

    task_id: TaskId
    bonus: int
    """The project's bonus setting."""
    budgeted: bool
    agrees: bool
    """The answer is the task's decided label: a gold task's label, or a
    completed real task's (consensus, or an expert's)."""
    blocked: bool
    reliability: float | None


async def bonus_terms(conn: AsyncConnection, reward_ids: Sequence[int]) -> dict[int, BonusTerms]:
    """:class:`BonusTerms` of each reward, by its id."""
    if not reward_ids:
        return {}
    agrees = case(
        (tasks.c.is_gold.is_(True), answers.c.label == tasks.c.gold_label),
        else_=and_(tasks.c.status == "completed", answers.c.label == tasks.c.label),
    )
    stats = and_(
        worker_stats.c.project_id == ledger_transactions.c.project_id,
        worker_stats.c.worker_id == ledger_transactions.c.worker_id,
    )
    query = (
        select(
            ledger_transactions.c.id,
            answers.c.task_id,
            projects.c.bonus,
            projects.c.budget.is_not(None),
            agrees,
            func.coalesce(worker_stats.c.blocked, False),
            worker_stats.c.reliability,
        )
        .select_from(
            ledger_transactions.join(answers, answers.c.id == ledger_transactions.c.answer_id)
            .join(tasks, tasks.c.id == answers.c.task_id)
            .join(projects, projects.c.id == ledger_transactions.c.project_id)
            .outerjoin(worker_stats, stats)
        )
        .where(ledger_transactions.c.id.in_(list(reward_ids)))
    )
    return {
        reward: BonusTerms(TaskId(task), bonus, bool(budgeted), bool(agreed), bool(blocked), reliability)
        for reward, task, bonus, budgeted, agreed, blocked, reliability in await conn.execute(query)
    }


# balances and history --------------------------------------------------------


async def account_total(conn: AsyncConnection, account_type: AccountType, **owner: str) -> int:
    query = select(func.coalesce(func.sum(ledger_entries.c.amount), 0)).where(
        ledger_entries.c.account_type == account_type.value,
        *(ledger_entries.c[column] == value for column, value in owner.items()),
    )
    return int((await conn.execute(query)).scalar_one())


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    pending: int
    available: int


async def worker_balances(conn: AsyncConnection, worker_id: WorkerId) -> list[Balance]:
    """The worker's pending and available money per currency, over all organizations."""
    pending = func.coalesce(func.sum(ledger_entries.c.amount).filter(_is(AccountType.WORKER_PENDING)), 0)
    available = func.coalesce(func.sum(ledger_entries.c.amount).filter(_is(AccountType.WORKER_AVAILABLE)), 0)
    query = (
        select(ledger_entries.c.currency, pending, available)
        .where(ledger_entries.c.worker_id == worker_id)
        .group_by(ledger_entries.c.currency)
        .order_by(ledger_entries.c.currency)
    )
    return [Balance(currency, int(p), int(a)) for currency, p, a in await conn.execute(query)]


def _is(account_type: AccountType) -> Any:
    return ledger_entries.c.account_type == account_type.value


@dataclass(frozen=True, slots=True)
class HistoryItem:
    id: int
    kind: str
    at: datetime
    currency: str
    pending: int
    available: int
    project_name: str | None


async def worker_history(
    conn: AsyncConnection, worker_id: WorkerId, before: int | None, limit: int
) -> list[HistoryItem]:
    """The worker's transactions, newest first: how each moved their pending
    and available money."""
    pending = func.coalesce(func.sum(ledger_entries.c.amount).filter(_is(AccountType.WORKER_PENDING)), 0)
    available = func.coalesce(func.sum(ledger_entries.c.amount).filter(_is(AccountType.WORKER_AVAILABLE)), 0)
    query = (
        select(
            ledger_transactions.c.id,
            ledger_transactions.c.kind,
            ledger_transactions.c.created_at,
            ledger_transactions.c.currency,
            pending,
            available,
            projects.c.name,
        )
        .join(ledger_entries, ledger_entries.c.transaction_id == ledger_transactions.c.id)
        .outerjoin(projects, projects.c.id == ledger_transactions.c.project_id)
        .where(ledger_transactions.c.worker_id == worker_id, ledger_entries.c.worker_id == worker_id)
        .group_by(ledger_transactions.c.id, projects.c.name)
        .order_by(ledger_transactions.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(ledger_transactions.c.id < before)
    return [HistoryItem(i, k, at, c, int(p), int(a), name) for i, k, at, c, p, a, name in await conn.execute(query)]


# reports ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Earnings:
    currency: str
    pending: int
    approved: int


async def earnings_in_project(
    conn: AsyncConnection, project_id: ProjectId, worker_ids: list[str]
) -> dict[str, Earnings]:
    """What each worker earned in the project: money still pending, and money
    approved (it became available, whether or not a payout has since taken it)."""
    if not worker_ids:
        return {}
    pending = func.coalesce(func.sum(ledger_entries.c.amount).filter(_is(AccountType.WORKER_PENDING)), 0)
    approved = func.coalesce(func.sum(ledger_entries.c.amount).filter(_is(AccountType.WORKER_AVAILABLE)), 0)
    query = (
        select(ledger_entries.c.worker_id, ledger_transactions.c.currency, pending, approved)
        .join(ledger_transactions, ledger_entries.c.transaction_id == ledger_transactions.c.id)
        .where(ledger_transactions.c.project_id == project_id, ledger_entries.c.worker_id.in_(worker_ids))
        .group_by(ledger_entries.c.worker_id, ledger_transactions.c.currency)
    )
    return {w: Earnings(c, int(p), int(a)) for w, c, p, a in await conn.execute(query)}


async def project_totals(conn: AsyncConnection, project_id: ProjectId) -> dict[str, int]:
    """Money moved by the project's transactions, by kind (worker side)."""
    worker_side = ledger_entries.c.account_type.in_(
        [AccountType.WORKER_PENDING.value, AccountType.WORKER_AVAILABLE.value]
    )
    positive = case((ledger_entries.c.amount > 0, ledger_entries.c.amount), else_=0)
    query = (
        select(ledger_transactions.c.kind, func.coalesce(func.sum(positive), 0))
        .join(ledger_entries, ledger_entries.c.transaction_id == ledger_transactions.c.id)
        .where(ledger_transactions.c.project_id == project_id, worker_side)
        .group_by(ledger_transactions.c.kind)
    )
    totals = {kind.value: 0 for kind in Kind}
    totals.update({kind: int(total) for kind, total in await conn.execute(query)})
    reversed_query = (
        select(func.coalesce(func.sum(ledger_entries.c.amount), 0))
        .join(ledger_transactions, ledger_entries.c.transaction_id == ledger_transactions.c.id)
        .where(
            ledger_transactions.c.project_id == project_id,
            ledger_transactions.c.kind == Kind.REVERSAL.value,
            _is(AccountType.PROJECT),
        )
    )
    totals[Kind.REVERSAL.value] = int((await conn.execute(reversed_query)).scalar_one())
    return totals


async def daily_spend(conn: AsyncConnection, project_id: ProjectId) -> list[tuple[str, str, int]]:
    """``(day, kind, amount)``: money leaving (or, for reversals, coming back
    to) the project account per UTC day."""
    day = _utc_day(conn, ledger_transactions.c.created_at)
    query = (
        select(day, ledger_transactions.c.kind, func.sum(ledger_entries.c.amount))
        .join(ledger_entries, ledger_entries.c.transaction_id == ledger_transactions.c.id)
        .where(ledger_transactions.c.project_id == project_id, _is(AccountType.PROJECT))
        .group_by(day, ledger_transactions.c.kind)
        .order_by(day)
    )
    return [(str(d), kind, int(amount)) for d, kind, amount in await conn.execute(query)]


def _utc_day(conn: AsyncConnection, moment: Any) -> Any:
    """``YYYY-MM-DD`` of a timestamp in UTC (SQLite keeps UTC text already)."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", moment), "YYYY-MM-DD")
    return func.substr(moment, 1, 10)


async def remaining_answers(conn: AsyncConnection, project_id: ProjectId) -> int:
    """Answers the open real tasks still want at their current target overlap."""
    missing = tasks.c.target_overlap - tasks.c.answer_count
    query = select(func.coalesce(func.sum(missing), 0)).where(
        tasks.c.project_id == project_id, tasks.c.status == "open", tasks.c.is_gold.is_(False)
    )
    return int((await conn.execute(query)).scalar_one())


async def audit(conn: AsyncConnection, organization_id: str) -> tuple[int, list[int], dict[str, int]]:
    """``(transactions, unbalanced transaction ids, total per account type)``."""
    count = (
        select(func.count())
        .select_from(ledger_transactions)
        .where(ledger_transactions.c.organization_id == organization_id)
    )
    unbalanced = (
        select(ledger_entries.c.transaction_id)
        .where(ledger_entries.c.organization_id == organization_id)
        .group_by(ledger_entries.c.transaction_id)
        .having(func.sum(ledger_entries.c.amount) != 0)
    )
    totals = (
        select(ledger_entries.c.account_type, func.sum(ledger_entries.c.amount))
        .where(ledger_entries.c.organization_id == organization_id)
        .group_by(ledger_entries.c.account_type)
    )
    n = int((await conn.execute(count)).scalar_one())
    bad = [int(i) for i in (await conn.execute(unbalanced)).scalars()]
    by_type = {t.value: 0 for t in AccountType}
    by_type.update({t: int(total) for t, total in await conn.execute(totals)})
    return n, bad, by_type


@dataclass(frozen=True, slots=True)
class NegativeBalance:
    worker_id: str
    account: str
    currency: str
    balance: int


_WORKER_ACCOUNTS = (AccountType.WORKER_PENDING.value, AccountType.WORKER_AVAILABLE.value)


async def negative_balances(
    conn: AsyncConnection,
    organization_id: str,
    *,
    currency: str | None = None,
    worker_ids: Sequence[str] | None = None,
) -> list[NegativeBalance]:
    """Worker accounts (pending or available, per currency) of the
    organization whose balance is below zero; optionally only in one
    currency, of some workers."""
    total = func.sum(ledger_entries.c.amount)
    query = (
        select(ledger_entries.c.worker_id, ledger_entries.c.account_type, ledger_entries.c.currency, total)
        .where(
            ledger_entries.c.organization_id == organization_id,
            ledger_entries.c.account_type.in_(_WORKER_ACCOUNTS),
        )
        .group_by(ledger_entries.c.worker_id, ledger_entries.c.account_type, ledger_entries.c.currency)
        .having(total < 0)
        .order_by(ledger_entries.c.worker_id, ledger_entries.c.account_type, ledger_entries.c.currency)
    )
    if currency is not None:
        query = query.where(ledger_entries.c.currency == currency)
    if worker_ids is not None:
        query = query.where(ledger_entries.c.worker_id.in_(list(worker_ids)))
    return [NegativeBalance(w, a, c, int(b)) for w, a, c, b in await conn.execute(query)]


async def settled_twice(conn: AsyncConnection, organization_id: str) -> list[int]:
    """Rewards of the organization that more than one transaction settles
    (the unique index on ``settles`` forbids it; the audit checks anyway)."""
    query = (
        select(ledger_transactions.c.settles)
        .where(ledger_transactions.c.organization_id == organization_id, ledger_transactions.c.settles.is_not(None))
        .group_by(ledger_transactions.c.settles)
        .having(func.count() > 1)
        .order_by(ledger_transactions.c.settles)
    )
    return [int(i) for i in (await conn.execute(query)).scalars()]


@dataclass(frozen=True, slots=True)
class Mismatch:
    settlement_id: int
    reward_id: int


_settlement_entry = ledger_entries.alias("settlement_entry")
_reward_entry = ledger_entries.alias("reward_entry")


async def mismatched_settlements(conn: AsyncConnection, organization_id: str) -> list[Mismatch]:
    """Approvals and reversals that do not take their reward's money out of
    the very pending account it went into: another worker, organization or
    currency (a reward approved in a project's new currency), another
    amount, or a settled transaction that is no reward."""
    pending = AccountType.WORKER_PENDING.value
    query = (
        select(_settling.c.id, _reward.c.id)
        .join(_reward, _reward.c.id == _settling.c.settles)
        .outerjoin(
            _settlement_entry,
            and_(_settlement_entry.c.transaction_id == _settling.c.id, _settlement_entry.c.account_type == pending),
        )
        .outerjoin(
            _reward_entry, and_(_reward_entry.c.transaction_id == _reward.c.id, _reward_entry.c.account_type == pending)
        )
        .where(
            or_(_settling.c.organization_id == organization_id, _reward.c.organization_id == organization_id),
            ~func.coalesce(
                and_(
                    _reward.c.kind == Kind.REWARD.value,
                    _settling.c.kind.in_([Kind.APPROVAL.value, Kind.REVERSAL.value]),
                    _settlement_entry.c.worker_id == _reward_entry.c.worker_id,
                    _settlement_entry.c.organization_id == _reward_entry.c.organization_id,
                    _settlement_entry.c.currency == _reward_entry.c.currency,
                    _settlement_entry.c.amount == -_reward_entry.c.amount,
                ),
                False,
            ),
        )
        .order_by(_settling.c.id)
    )
    return [Mismatch(int(s), int(r)) for s, r in await conn.execute(query)]


@dataclass(frozen=True, slots=True)
class PayoutMismatch:
    run_id: str
    workers: int
    total: int
    lines: int
    paid: int


async def payout_mismatches(conn: AsyncConnection, organization_id: str) -> list[PayoutMismatch]:
    """Payout runs whose lines (their transactions' entries to ``payouts``,
    which the CSV lists) differ from what the run recorded: another count,
    another total, a worker twice, another currency."""
    paid = ledger_entries.c.amount
    lines = func.count(ledger_transactions.c.id)
    total = func.coalesce(func.sum(paid), 0)
    foreign = case(
        (
            or_(
                ledger_transactions.c.currency != payout_runs.c.currency,
                ledger_transactions.c.kind != Kind.PAYOUT.value,
            ),
            1,
        ),
        else_=0,
    )
    query = (
        select(payout_runs.c.id, payout_runs.c.workers, payout_runs.c.total, lines, total)
        .select_from(payout_runs)
        .outerjoin(ledger_transactions, ledger_transactions.c.payout_run_id == payout_runs.c.id)
        .outerjoin(
            ledger_entries,
            and_(ledger_entries.c.transaction_id == ledger_transactions.c.id, _is(AccountType.PAYOUTS)),
        )
        .where(payout_runs.c.organization_id == organization_id)
        .group_by(payout_runs.c.id, payout_runs.c.workers, payout_runs.c.total)
        .having(
            or_(
                lines != payout_runs.c.workers,
                func.count(func.distinct(ledger_transactions.c.worker_id)) != lines,
                func.count(ledger_entries.c.id) != lines,
                total != payout_runs.c.total,
                func.coalesce(func.sum(foreign), 0) > 0,
            )
        )
        .order_by(payout_runs.c.id)
    )
    return [PayoutMismatch(r, int(w), int(t), int(n), int(p)) for r, w, t, n, p in await conn.execute(query)]


# payouts ---------------------------------------------------------------------

#: The first key of the advisory locks of payout runs (``pg_advisory_xact_lock(int, int)``),
#: so they never meet another use of advisory locks; the second is a hash of
#: the organization and currency. Two pairs whose hashes collide only queue
#: behind each other, which is safe.
PAYOUT_LOCK_SPACE = 0x70617921


async def lock_payouts(conn: AsyncConnection, organization_id: str, currency: str) -> None:
    """Hold the payout lock of the organization and currency until the
    transaction ends; a second payout run of the same pair waits here.

    The locking argument. A payout run reads each worker's available balance
    and moves exactly that amount out. Nothing else takes money out of an
    available account, so two runs are the only way to pay a cent twice, and
    they must not read the same balance. On PostgreSQL (READ COMMITTED) the
    run takes a transaction-scoped advisory lock before it reads: a second
    run blocks until the first commits, and its next statement, with a new
    snapshot, sees the first run's payouts and finds the balances at zero.
    Approvals and bonuses, which only add to available money, take no lock:
    what they add while a run holds it waits for the next run. On SQLite the
    run's transaction is the single writer (``BEGIN IMMEDIATE`` plus the
    process's write lock, see :mod:`crowd.db.engine`): from its first
    statement no other writer runs, so it reads the balances every earlier
    run left and nothing is needed here."""
    if conn.dialect.name != "postgresql":
        return
    statement = text("SELECT pg_advisory_xact_lock(:space, hashtext(:key))")
    await conn.execute(statement, {"space": PAYOUT_LOCK_SPACE, "key": f"{organization_id}/{currency}"})


async def available_balances(
    conn: AsyncConnection, organization_id: str, currency: str, minimum: int
) -> list[tuple[WorkerId, int]]:
    """Workers whose available money here is at least ``minimum`` (and above 0)."""
    total = func.sum(ledger_entries.c.amount)
    query = (
        select(ledger_entries.c.worker_id, total)
        .where(
            ledger_entries.c.organization_id == organization_id,
            ledger_entries.c.currency == currency,
            _is(AccountType.WORKER_AVAILABLE),
        )
        .group_by(ledger_entries.c.worker_id)
        .having(and_(total > 0, total >= minimum))
        .order_by(ledger_entries.c.worker_id)
    )
    return [(WorkerId(w), int(amount)) for w, amount in await conn.execute(query)]


async def insert_payout_run(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(payout_runs).values(**values))


async def payout_run(conn: AsyncConnection, run_id: str, organization_id: str) -> dict[str, Any] | None:
    query = select(payout_runs).where(payout_runs.c.id == run_id, payout_runs.c.organization_id == organization_id)
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def payout_lines(conn: AsyncConnection, run_id: str) -> list[tuple[str, int, str, str]]:
    """``(worker, amount, currency, reference)`` of a payout run."""
    query = (
        select(
            ledger_transactions.c.worker_id,
            ledger_entries.c.amount,
            ledger_transactions.c.currency,
            ledger_transactions.c.idempotency_key,
        )
        .join(ledger_entries, ledger_entries.c.transaction_id == ledger_transactions.c.id)
        .where(ledger_transactions.c.payout_run_id == run_id, _is(AccountType.PAYOUTS))
        .order_by(ledger_transactions.c.worker_id)
    )
    return [(w, int(a), c, ref) for w, a, c, ref in await conn.execute(query)]
