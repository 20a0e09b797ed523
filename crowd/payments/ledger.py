"""Ledger transactions as values: every builder returns a transaction whose
entries sum to zero, or raises. Money is integer minor units of one
currency (``5`` = 5 cents).

Accounts, per organization and currency:

- ``project``: a project's spend; it goes negative as the project pays.
- ``worker_pending``: earned, not yet approved.
- ``worker_available``: approved, waiting for a payout.
- ``payouts``: money that has left for the workers' payment accounts.

So, in every transaction, what one account gains another loses, and at any
time ``-project = pending + available + payouts`` summed over a project's
workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AccountType(StrEnum):
    PROJECT = "project"
    WORKER_PENDING = "worker_pending"
    WORKER_AVAILABLE = "worker_available"
    PAYOUTS = "payouts"


class Kind(StrEnum):
    REWARD = "reward"
    APPROVAL = "approval"
    REVERSAL = "reversal"
    BONUS = "bonus"
    PAYOUT = "payout"


@dataclass(frozen=True, slots=True)
class Account:
    type: AccountType
    organization_id: str
    currency: str
    project_id: str | None = None
    worker_id: str | None = None

    def __post_init__(self) -> None:
        if (self.type is AccountType.PROJECT) != (self.project_id is not None):
            raise ValueError("a project account names its project, and only it")
        worker_account = self.type in (AccountType.WORKER_PENDING, AccountType.WORKER_AVAILABLE)
        if worker_account != (self.worker_id is not None):
            raise ValueError("a worker account names its worker, and only it")


@dataclass(frozen=True, slots=True)
class Entry:
    account: Account
    amount: int


@dataclass(frozen=True, slots=True)
class Transaction:
    key: str
    """Idempotency key: the same key posts once."""
    kind: Kind
    organization_id: str
    currency: str
    entries: tuple[Entry, ...]
    project_id: str | None = None
    worker_id: str | None = None
    answer_id: int | None = None
    settles: int | None = None
    payout_run_id: str | None = None

    def __post_init__(self) -> None:
        if len(self.entries) < 2:
            raise ValueError("a transaction moves money between at least two accounts")
        if sum(entry.amount for entry in self.entries) != 0:
            raise ValueError(f"unbalanced transaction {self.key}: entries sum to {sum(e.amount for e in self.entries)}")
        for entry in self.entries:
            if not isinstance(entry.amount, int) or isinstance(entry.amount, bool) or entry.amount == 0:
                raise ValueError(f"bad amount {entry.amount!r} in {self.key}: whole minor units, never zero")
            if entry.account.currency != self.currency or entry.account.organization_id != self.organization_id:
                raise ValueError(f"{self.key} mixes currencies or organizations")


def _move(source: Account, target: Account, amount: int) -> tuple[Entry, Entry]:
    if amount <= 0:
        raise ValueError(f"amounts moved must be positive, not {amount}")
    return Entry(source, -amount), Entry(target, amount)


@dataclass(frozen=True, slots=True)
class Books:
    """The accounts of one worker in one project's organization and currency."""

    organization_id: str
    currency: str
    project_id: str
    worker_id: str

    @property
    def project(self) -> Account:
        return Account(AccountType.PROJECT, self.organization_id, self.currency, project_id=self.project_id)

    @property
    def pending(self) -> Account:
        return Account(AccountType.WORKER_PENDING, self.organization_id, self.currency, worker_id=self.worker_id)

    @property
    def available(self) -> Account:
        return Account(AccountType.WORKER_AVAILABLE, self.organization_id, self.currency, worker_id=self.worker_id)

    def _transaction(
        self,
        key: str,
        kind: Kind,
        entries: tuple[Entry, ...],
        *,
        answer_id: int | None = None,
        settles: int | None = None,
    ) -> Transaction:
        return Transaction(
            key,
            kind,
            self.organization_id,
            self.currency,
            entries,
            project_id=self.project_id,
            worker_id=self.worker_id,
            answer_id=answer_id,
            settles=settles,
        )

    def reward(self, answer_id: int, amount: int) -> Transaction:
        """An accepted answer's reward: project to pending."""
        entries = _move(self.project, self.pending, amount)
        return self._transaction(f"reward:{answer_id}", Kind.REWARD, entries, answer_id=answer_id)

    def approval(self, reward_id: int, amount: int) -> Transaction:
        """A reward approved: pending to available."""
        entries = _move(self.pending, self.available, amount)
        return self._transaction(f"approve:{reward_id}", Kind.APPROVAL, entries, settles=reward_id)

    def reversal(self, reward_id: int, amount: int) -> Transaction:
        """A reward rejected: pending back to the project."""
        entries = _move(self.pending, self.project, amount)
        return self._transaction(f"reverse:{reward_id}", Kind.REVERSAL, entries, settles=reward_id)

    def bonus(self, task_id: int, amount: int) -> Transaction:
        """A bonus for agreeing with the consensus of a completed task: project to available."""
        entries = _move(self.project, self.available, amount)
        return self._transaction(f"bonus:{task_id}:{self.worker_id}", Kind.BONUS, entries)


def payout(run_id: str, organization_id: str, currency: str, worker_id: str, amount: int) -> Transaction:
    """A worker's available balance leaves in a payout run."""
    available = Account(AccountType.WORKER_AVAILABLE, organization_id, currency, worker_id=worker_id)
    paid = Account(AccountType.PAYOUTS, organization_id, currency)
    return Transaction(
        f"payout:{run_id}:{worker_id}",
        Kind.PAYOUT,
        organization_id,
        currency,
        _move(available, paid, amount),
        worker_id=worker_id,
        payout_run_id=run_id,
    )
