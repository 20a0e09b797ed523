"""Pay through the server: rewards with answers, approvals, bonuses,
reversals, budgets, payouts and the audit."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

from sqlalchemy import func, select

from crowd.api.keys import CLOCK, DATABASE
from crowd.db.schema import answers, ledger_transactions
from crowd.payments.service import approve_due
from tests.support.crowd import Crowd


async def answer_next(crowd: Crowd, worker: str, pid: str, label: str = "cat") -> dict[str, Any] | None:
    lease = await crowd.next(worker, pid)
    if lease is not None:
        reply = await crowd.answer(worker, lease["assignment_id"], label)
        assert reply.status == 200, reply.text
    return lease


async def me(crowd: Crowd, worker: str) -> dict[str, Any]:
    return dict(await crowd.ok("GET", "/api/v1/work/me", worker))


async def audit(crowd: Crowd) -> dict[str, Any]:
    result = dict(await crowd.ok("GET", "/api/v1/ledger/audit", crowd.operator))
    assert result["balanced"], result
    return result


async def test_an_answer_posts_its_reward_to_pending(crowd: Crowd) -> None:
    pid = (await crowd.new_project(reward=5, min_overlap=3))["id"]
    await crowd.submit(pid, 2)
    worker = await crowd.new_worker()
    await answer_next(crowd, worker, pid)
    await answer_next(crowd, worker, pid)
    balance = (await me(crowd, worker))["balance"]
    assert balance == {"pending": 10, "available": 0, "currency": "USD"}
    history = (await crowd.ok("GET", "/api/v1/work/ledger", worker))["items"]
    assert [(h["kind"], h["pending"], h["available"], h["project"]) for h in history] == [("reward", 5, 0, "Pets")] * 2
    totals = (await audit(crowd))["totals"]
    assert totals == {"project": -10, "worker_pending": 10, "worker_available": 0, "payouts": 0}


async def test_ten_parallel_retries_of_an_answer_pay_once(crowd: Crowd) -> None:
    pid = (await crowd.new_project(reward=5, min_overlap=3))["id"]
    await crowd.submit(pid, 1)
    worker = await crowd.new_worker()
    lease = await crowd.next(worker, pid)
    assert lease is not None
    replies = await asyncio.gather(*(crowd.answer(worker, lease["assignment_id"], "cat") for _ in range(10)))
    assert {r.status for r in replies} == {200}
    assert (await me(crowd, worker))["balance"]["pending"] == 5
    db = crowd.client.server.app[DATABASE]  # type: ignore[union-attr]
    async with db.read() as conn:
        rewards = (await conn.execute(select(func.count()).select_from(ledger_transactions))).scalar_one()
    assert rewards == 1


async def approve(crowd: Crowd) -> int:
    app = crowd.client.server.app
    assert app is not None
    return await approve_due(app[DATABASE], app[CLOCK])


async def test_rewards_wait_for_the_review_period_even_when_their_task_completes(crowd: Crowd) -> None:
    """Approving at completion would tell a worker which tasks were real:
    gold never completes (tests/integration/test_gold_side_channels.py)."""
    pid = (await crowd.new_project(reward=5, min_overlap=3, max_overlap=3, review_seconds=3600))["id"]
    await crowd.submit(pid, 1)
    ann, ben, cid = await crowd.new_workers("ann", "ben", "cid")
    for worker, label in ((ann, "cat"), (ben, "cat"), (cid, "dog")):
        await answer_next(crowd, worker, pid, label)
    assert (await crowd.results(pid))[0]["status"] == "completed"
    assert await approve(crowd) == 0
    assert (await me(crowd, ann))["balance"] == {"pending": 5, "available": 0, "currency": "USD"}
    crowd.clock.advance(3601)
    assert await approve(crowd) == 3  # agreeing or not: a reward is owed for the work
    for worker in (ann, cid):
        assert (await me(crowd, worker))["balance"] == {"pending": 0, "available": 5, "currency": "USD"}
    await audit(crowd)


async def test_rewards_approve_themselves_after_the_review_period(crowd: Crowd) -> None:
    pid = (await crowd.new_project(reward=5, min_overlap=3, review_seconds=3600))["id"]
    await crowd.submit(pid, 1)
    worker = await crowd.new_worker()
    await answer_next(crowd, worker, pid)
    app = crowd.client.server.app
    assert app is not None
    assert await approve_due(app[DATABASE], app[CLOCK]) == 0
    crowd.clock.advance(3601)
    assert await approve_due(app[DATABASE], app[CLOCK]) == 1
    assert await approve_due(app[DATABASE], app[CLOCK]) == 0
    assert (await me(crowd, worker))["balance"] == {"pending": 0, "available": 5, "currency": "USD"}


async def test_bonuses_follow_agreement_and_reliability(crowd: Crowd) -> None:
    pid = (await crowd.new_project(reward=5, bonus=10, min_overlap=3, max_overlap=3, review_seconds=60))["id"]
    await crowd.submit(pid, 1)
    ann, ben, cid = await crowd.new_workers("ann", "ben", "cid")
    await answer_next(crowd, ann, pid, "cat")
    await answer_next(crowd, ben, pid, "cat")
    await answer_next(crowd, cid, pid, "dog")
    crowd.clock.advance(61)
    assert await approve(crowd) == 3  # with the approvals, the bonuses of those who agree
    assert (await me(crowd, cid))["balance"] == {"pending": 0, "available": 5, "currency": "USD"}
    # No fit yet: reliability is taken as 0.7, so the bonus is 7 each.
    for worker in (ann, ben):
        assert (await me(crowd, worker))["balance"] == {"pending": 0, "available": 12, "currency": "USD"}
    spend = await crowd.ok("GET", f"/api/v1/projects/{pid}/spend", crowd.operator)
    assert (spend["posted"], spend["bonuses"], spend["approved"]) == (29, 14, 15)
    await audit(crowd)


async def test_a_blocked_spammer_loses_pending_rewards_when_the_project_says_so(crowd: Crowd) -> None:
    pid = (await crowd.new_project(reward=5, min_overlap=3, reject_blocked=True))["id"]
    await crowd.submit(pid, 3)
    spam = await crowd.new_worker("spam")
    for _ in range(3):
        await answer_next(crowd, spam, pid, "dog")
    assert (await me(crowd, spam))["balance"]["pending"] == 15
    worker_id = (await me(crowd, spam))["id"]
    await crowd.ok("POST", f"/api/v1/projects/{pid}/workers/{worker_id}/block", crowd.operator)
    assert (await me(crowd, spam))["balance"] == {"pending": 0, "available": 0, "currency": "USD"}
    kinds = [h["kind"] for h in (await crowd.ok("GET", "/api/v1/work/ledger", spam))["items"]]
    assert sorted(kinds) == ["reversal"] * 3 + ["reward"] * 3
    spend = await crowd.ok("GET", f"/api/v1/projects/{pid}/spend", crowd.operator)
    assert (spend["posted"], spend["reversed"]) == (0, 15)
    assert (await audit(crowd))["totals"]["project"] == 0


async def test_a_budget_stops_new_leases_exactly_at_its_limit(crowd: Crowd) -> None:
    pid = (await crowd.new_project(reward=5, budget=15, min_overlap=1, lease_seconds=60))["id"]
    await crowd.submit(pid, 10)
    workers = await crowd.new_workers(*"abcde")
    leases = [await crowd.next(worker, pid) for worker in workers]
    assert [lease is not None for lease in leases] == [True, True, True, False, False]
    spend = await crowd.ok("GET", f"/api/v1/projects/{pid}/spend", crowd.operator)
    assert (spend["committed"], spend["posted"], spend["budget"]) == (15, 0, 15)

    first = leases[0]
    assert first is not None
    await crowd.ok("POST", f"/api/v1/work/assignments/{first['assignment_id']}/skip", workers[0])
    assert await crowd.next(workers[3], pid) is not None  # the skip gave 5 back
    assert await crowd.next(workers[4], pid) is None

    crowd.clock.advance(61)  # every lease expires: its reward goes back to the budget
    assert await answer_next(crowd, workers[4], pid) is not None
    spend = await crowd.ok("GET", f"/api/v1/projects/{pid}/spend", crowd.operator)
    assert (spend["committed"], spend["posted"]) == (5, 5)
    await audit(crowd)


async def test_many_workers_at_once_never_commit_past_the_budget(crowd: Crowd) -> None:
    pid = (await crowd.new_project(reward=5, budget=50, min_overlap=2))["id"]
    await crowd.submit(pid, 40)
    workers = await crowd.new_workers(*(f"w{i}" for i in range(20)))

    async def work(worker: str) -> int:
        done = 0
        while await answer_next(crowd, worker, pid) is not None:
            done += 1
        return done

    answered = await asyncio.gather(*(work(w) for w in workers))
    assert sum(answered) == 10
    spend = await crowd.ok("GET", f"/api/v1/projects/{pid}/spend", crowd.operator)
    assert (spend["posted"], spend["committed"]) == (50, 50)


async def test_a_budget_added_later_counts_what_was_spent(crowd: Crowd) -> None:
    pid = (await crowd.new_project(reward=5, min_overlap=1))["id"]
    await crowd.submit(pid, 10)
    worker = await crowd.new_worker()
    await answer_next(crowd, worker, pid)
    live = await crowd.next(worker, pid)
    assert live is not None
    await crowd.ok("PATCH", f"/api/v1/projects/{pid}", crowd.operator, {"budget": 15})
    spend = await crowd.ok("GET", f"/api/v1/projects/{pid}/spend", crowd.operator)
    assert (spend["posted"], spend["committed"]) == (5, 10)
    await crowd.answer(worker, live["assignment_id"], "cat")
    assert await answer_next(crowd, worker, pid) is not None
    assert await crowd.next(worker, pid) is None  # 15 spent
    await crowd.ok("PATCH", f"/api/v1/projects/{pid}", crowd.operator, {"budget": None})
    assert await crowd.next(worker, pid) is not None


async def test_the_spend_report_forecasts_the_cost_to_finish(crowd: Crowd) -> None:
    pid = (await crowd.new_project(reward=4, min_overlap=3))["id"]
    await crowd.submit(pid, 5)
    worker = await crowd.new_worker()
    await answer_next(crowd, worker, pid)
    spend = await crowd.ok("GET", f"/api/v1/projects/{pid}/spend", crowd.platform)
    assert spend["forecast"] == {"remaining_answers": 14, "cost_to_finish": 56, "total_at_finish": 60}
    assert spend["daily"] == [
        {"date": crowd.clock.now().date().isoformat(), "rewards": 4, "bonuses": 0, "reversals": 0}
    ]
    assert spend["currency"] == "USD"


async def test_a_payout_run_moves_available_money_out_once(crowd: Crowd) -> None:
    pid = (await crowd.new_project(reward=5, min_overlap=1, max_overlap=1, review_seconds=0))["id"]
    await crowd.submit(pid, 3)
    ann, ben = await crowd.new_workers("ann", "ben")
    await answer_next(crowd, ann, pid)
    await answer_next(crowd, ann, pid)
    await answer_next(crowd, ben, pid)
    assert await approve(crowd) == 3
    run = await crowd.ok("POST", "/api/v1/payouts", crowd.operator, {"currency": "USD", "minimum": 6})
    assert (run["workers"], run["total"]) == (1, 10)
    export = await crowd.call("GET", f"/api/v1/payouts/{run['id']}", crowd.operator)
    rows = list(csv.DictReader(io.StringIO(export.text)))
    ann_id = (await me(crowd, ann))["id"]
    assert rows == [{"worker": ann_id, "amount": "10", "currency": "USD", "reference": f"payout:{run['id']}:{ann_id}"}]
    assert (await me(crowd, ann))["balance"] == {"pending": 0, "available": 0, "currency": "USD"}
    assert (await me(crowd, ben))["balance"]["available"] == 5
    again = await crowd.ok("POST", "/api/v1/payouts", crowd.operator, {"currency": "USD", "minimum": 6})
    assert (again["workers"], again["total"]) == (0, 0)
    totals = (await audit(crowd))["totals"]
    assert totals == {"project": -15, "worker_pending": 0, "worker_available": 5, "payouts": 10}


async def test_bad_amounts_and_unknown_runs_are_4xx(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    for body in ({"reward": -1}, {"budget": -5}, {"bonus": 1.5}, {"currency": "usd"}):
        assert (await crowd.call("PATCH", f"/api/v1/projects/{pid}", crowd.operator, body)).status == 422
    for body in ({"currency": "USD", "minimum": -1}, {"currency": "dollars"}, {}):
        assert (await crowd.call("POST", "/api/v1/payouts", crowd.operator, body)).status == 422
    assert (await crowd.call("GET", "/api/v1/payouts/pay_unknown", crowd.operator)).status == 404
    assert (await crowd.call("POST", "/api/v1/payouts", crowd.platform, {"currency": "USD"})).status == 403
    worker = await crowd.new_worker()
    assert (await crowd.call("GET", "/api/v1/ledger/audit", worker)).status == 403
    assert (await crowd.call("GET", f"/api/v1/projects/{pid}/spend", crowd.rival)).status == 404
    assert (await crowd.call("GET", "/api/v1/work/ledger?cursor=-3", worker)).status == 422


async def test_gold_answers_are_paid_like_any_other(crowd: Crowd) -> None:
    pid = (await crowd.new_project(reward=5, min_overlap=1, gold_rate=1.0, onboarding_gold_rate=1.0, min_accuracy=0))[
        "id"
    ]
    await crowd.submit(pid, 5)
    gold = [{"external_id": f"g{i}", "data": {"text": f"g{i}"}, "label": "dog"} for i in range(5)]
    await crowd.ok("POST", f"/api/v1/projects/{pid}/gold", crowd.platform, {"tasks": gold})
    worker = await crowd.new_worker()
    for _ in range(6):
        await answer_next(crowd, worker, pid, "cat")
    assert (await me(crowd, worker))["balance"]["pending"] + (await me(crowd, worker))["balance"]["available"] == 30
    db = crowd.client.server.app[DATABASE]  # type: ignore[union-attr]
    async with db.read() as conn:
        n_answers = (await conn.execute(select(func.count()).select_from(answers))).scalar_one()
    assert n_answers == 6


async def test_operators_see_what_each_worker_earned_in_each_project(crowd: Crowd) -> None:
    paid = (await crowd.new_project(reward=5, min_overlap=1, max_overlap=1, review_seconds=0))["id"]
    other = (await crowd.new_project(reward=7, min_overlap=3))["id"]
    unpaid = (await crowd.new_project(min_overlap=3))["id"]
    for pid in (paid, other, unpaid):
        await crowd.submit(pid, 2)
    ann, ben = await crowd.new_workers("ann", "ben")
    for _ in range(2):
        await answer_next(crowd, ann, paid)  # no review period: approved by the next run
    await answer_next(crowd, ann, other)  # still pending
    await answer_next(crowd, ben, unpaid)
    assert await approve(crowd) == 2

    async def earnings(pid: str) -> dict[str, Any]:
        items = (await crowd.ok("GET", f"/api/v1/projects/{pid}/workers", crowd.operator))["items"]
        return {item["name"]: item["earnings"] for item in items}

    assert await earnings(paid) == {"ann": {"currency": "USD", "pending": 0, "approved": 10}}
    assert await earnings(other) == {"ann": {"currency": "USD", "pending": 7, "approved": 0}}
    assert await earnings(unpaid) == {"ben": None}
    # A payout takes the money out of the balance, not out of what was earned.
    await crowd.ok("POST", "/api/v1/payouts", crowd.operator, {"currency": "USD"})
    assert (await me(crowd, ann))["balance"]["available"] == 0
    assert await earnings(paid) == {"ann": {"currency": "USD", "pending": 0, "approved": 10}}
