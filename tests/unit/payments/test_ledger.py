from __future__ import annotations

import pytest

from crowd.payments.ledger import Account, AccountType, Books, Entry, Kind, Transaction, payout
from crowd.payments.policy import bonus_amount, cost_to_finish

BOOKS = Books("org_1", "USD", "prj_1", "wrk_1")


@pytest.mark.parametrize(
    "tx",
    [
        BOOKS.reward(7, 5),
        BOOKS.approval(1, 5),
        BOOKS.reversal(1, 5),
        BOOKS.bonus(3, 2),
        payout("pay_1", "org_1", "USD", "wrk_1", 40),
    ],
)
def test_every_builder_balances(tx: Transaction) -> None:
    assert sum(e.amount for e in tx.entries) == 0
    assert all(e.account.currency == "USD" for e in tx.entries)


def test_a_reward_moves_money_from_the_project_to_pending() -> None:
    tx = BOOKS.reward(7, 5)
    assert tx.key == "reward:7"
    assert tx.kind is Kind.REWARD
    assert {(e.account.type, e.amount) for e in tx.entries} == {
        (AccountType.PROJECT, -5),
        (AccountType.WORKER_PENDING, 5),
    }


def test_unbalanced_or_bad_amounts_are_refused() -> None:
    project, pending = BOOKS.project, BOOKS.pending
    with pytest.raises(ValueError, match="unbalanced"):
        Transaction("k", Kind.REWARD, "org_1", "USD", (Entry(project, -5), Entry(pending, 4)))
    with pytest.raises(ValueError, match="bad amount"):
        Transaction("k", Kind.REWARD, "org_1", "USD", (Entry(project, 0), Entry(pending, 0)))
    with pytest.raises(ValueError, match="bad amount"):
        Transaction("k", Kind.REWARD, "org_1", "USD", (Entry(project, -1.5), Entry(pending, 1.5)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        BOOKS.reward(7, -5)
    with pytest.raises(ValueError, match="at least two"):
        Transaction("k", Kind.REWARD, "org_1", "USD", ())


def test_one_currency_and_one_organization_per_transaction() -> None:
    euros = Account(AccountType.WORKER_PENDING, "org_1", "EUR", worker_id="wrk_1")
    with pytest.raises(ValueError, match="mixes"):
        Transaction("k", Kind.REWARD, "org_1", "USD", (Entry(BOOKS.project, -5), Entry(euros, 5)))


def test_accounts_name_their_owner() -> None:
    with pytest.raises(ValueError, match="project account"):
        Account(AccountType.PROJECT, "org_1", "USD")
    with pytest.raises(ValueError, match="project account"):
        Account(AccountType.WORKER_PENDING, "org_1", "USD", project_id="prj_1")


@pytest.mark.parametrize(
    ("bonus", "reliability", "expected"),
    [(10, 0.95, 9), (10, 1.4, 10), (10, -0.2, 0), (10, None, 7), (0, 0.9, 0), (3, 0.5, 1)],
)
def test_bonuses_scale_with_reliability_and_round_down(bonus: int, reliability: float | None, expected: int) -> None:
    assert bonus_amount(bonus, reliability) == expected


def test_cost_to_finish() -> None:
    assert cost_to_finish(12, 5) == 60
    assert cost_to_finish(-1, 5) == 0
