"""Gold stays indistinguishable: nothing a worker can observe (figures the
server publishes, what a lease carries, which tasks they get, what happens
to a late answer, their ledger) differs between gold and real work."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from crowd.app import metrics_app
from tests.support.crowd import Crowd

GOLD = [{"external_id": f"g-{i}", "data": {"text": f"gold {i}"}, "label": "cat"} for i in range(5)]


async def figures(crowd: Crowd) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    app = crowd.client.server.app
    assert app is not None
    async with TestClient(TestServer(metrics_app(app))) as listener:
        text = await (await listener.get("/metrics")).text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.startswith(("crowd_http", "python_", "process_"))  # about requests, not work
    }


def changes(before: dict[Any, float], after: dict[Any, float]) -> dict[Any, float]:
    return {key: delta for key in after.keys() | before.keys() if (delta := after.get(key, 0.0) - before.get(key, 0.0))}


async def lease_and_answer(crowd: Crowd, worker: str, pid: str) -> dict[str, Any]:
    lease = await crowd.next(worker, pid)
    assert lease is not None
    assert (await crowd.answer(worker, lease["assignment_id"], "cat")).status == 200
    return lease


async def test_no_published_figure_tells_a_gold_lease_from_a_real_one(crowd: Crowd) -> None:
    assert (await crowd.call("GET", "/metrics")).status == 404  # not on the API's port at all
    pid = (await crowd.new_project(min_overlap=3, gold_rate=1.0, onboarding_gold_rate=1.0))["id"]
    await crowd.submit(pid, 5)
    await crowd.ok("POST", f"/api/v1/projects/{pid}/gold", crowd.platform, {"tasks": GOLD})
    worker = await crowd.new_worker()

    before = await figures(crowd)
    gold = await lease_and_answer(crowd, worker, pid)  # gold_rate 1: gold while real work is there too
    after_gold = await figures(crowd)
    await crowd.ok("PATCH", f"/api/v1/projects/{pid}", crowd.operator, {"gold_rate": 0, "onboarding_gold_rate": 0})
    real = await lease_and_answer(crowd, worker, pid)
    after_real = await figures(crowd)

    assert gold["data"]["text"].startswith("gold")
    assert real["data"]["text"].startswith("task")
    assert changes(before, after_gold) == changes(after_gold, after_real)
    assert not any("kind" in dict(labels) for _, labels in after_real)
