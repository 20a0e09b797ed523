"""What platforms integrate with: the Python client, results with their
answers, Label Studio import and export."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from crowd.api.models import MAX_EXTERNAL_ID, MAX_TASKS_PER_BATCH
from crowd.client import CrowdAPIError, CrowdClient
from crowd.webhooks.policy import sign
from tests.support.crowd import Crowd

CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="cat"/><Choice value="dog"/><Choice value="other"/>
  </Choices>
</View>"""


async def label_everything(crowd: Crowd, pid: str, label: str = "dog") -> None:
    for worker in await crowd.new_workers("a", "b"):
        while (lease := await crowd.next(worker, pid)) is not None:
            await crowd.answer(worker, lease["assignment_id"], label)


async def test_the_python_client_from_submission_to_results(crowd: Crowd) -> None:
    url = str(crowd.client.make_url("")).rstrip("/")
    async with CrowdClient(url, crowd.platform) as client:
        project = await client.create_project(name="Client", labels=["cat", "dog", "other"], min_overlap=2)
        tasks = [{"external_id": f"c-{i}", "data": {"text": str(i)}} for i in range(10)]
        batches = await client.submit_tasks(project["id"], tasks, batch="nightly", chunk_size=4)
        assert [b["task_count"] for b in batches] == [4, 4, 2]
        again = await client.submit_tasks(project["id"], tasks, batch="nightly", chunk_size=4)
        assert [b["id"] for b in again] == [b["id"] for b in batches]  # safe to run twice

        await label_everything(crowd, project["id"])
        done = await client.wait_for_batches([b["id"] for b in batches], poll=0.05, timeout=10)
        assert all(b["status"] == "completed" for b in done)
        results = [r async for r in client.results(project["id"], include_answers=True)]
        assert [r["external_id"] for r in results] == [t["external_id"] for t in tasks]
        assert all(r["label"] == "dog" and len(r["votes"]) == 2 for r in results)
        answers = [a async for a in client.answers(project["id"])]
        assert len(answers) == 20
        events = [e async for e in client.events(project["id"])]
        assert [e["type"] for e in events].count("batch.completed") == 3

        with pytest.raises(CrowdAPIError) as raised:
            await client.create_project(name="Bad", labels=["only"])
        assert (raised.value.status, raised.value.type) == (422, "validation-error")

    body = json.dumps({"id": "evt_1"}).encode()
    headers = {"crowd-signature": sign("hook-secret", int(time.time()), body)}
    assert CrowdClient.verify_signature("hook-secret", body, headers)
    assert not CrowdClient.verify_signature("other-secret", body, headers)


async def test_results_can_carry_each_answer(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=2))["id"]
    await crowd.submit(pid, 2)
    await label_everything(crowd, pid)
    page = await crowd.ok("GET", f"/api/v1/projects/{pid}/results?include=answers", crowd.platform)
    votes = page["items"][0]["votes"]
    assert [set(v) for v in votes] == [{"worker", "label", "created_at"}] * 2
    assert {v["label"] for v in votes} == {"dog"}
    plain = await crowd.ok("GET", f"/api/v1/projects/{pid}/results", crowd.platform)
    assert "votes" not in plain["items"][0]


def label_studio_export(n: int) -> list[dict[str, Any]]:
    return [{"id": 100 + i, "data": {"text": f"review {i}"}, "annotations": []} for i in range(n)]


async def test_a_label_studio_export_comes_in_as_a_batch_and_goes_back_annotated(crowd: Crowd) -> None:
    pid = (await crowd.new_project(min_overlap=2))["id"]
    path = f"/api/v1/projects/{pid}/label-studio/import"
    reply = await crowd.call("POST", path, crowd.platform, {"tasks": label_studio_export(3), "label_config": CONFIG})
    assert (reply.status, reply.body["task_count"]) == (201, 3)
    await label_everything(crowd, pid, "cat")

    exported = await crowd.call(
        "GET", f"/api/v1/projects/{pid}/results?format=label-studio&from_name=sentiment&to_name=text", crowd.platform
    )
    assert exported.status == 200
    tasks = json.loads(exported.text)
    assert [t["id"] for t in tasks] == [100, 101, 102]
    first = tasks[0]
    assert first["data"]["text"] == "review 0"
    [annotation] = first["annotations"]
    [result] = annotation["result"]
    assert result["from_name"] == "sentiment"
    assert result["to_name"] == "text"
    assert result["type"] == "choices"
    assert result["value"] == {"choices": ["cat"]}
    assert first["predictions"][0]["score"] == pytest.approx(result["score"])


async def test_label_studio_imports_are_checked(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    path = f"/api/v1/projects/{pid}/label-studio/import"
    wrong_labels = CONFIG.replace('<Choice value="other"/>', "")
    for body in (
        {"tasks": label_studio_export(1), "label_config": wrong_labels},
        {"tasks": label_studio_export(1), "label_config": "<View><Choices"},
        {"tasks": label_studio_export(1), "label_config": '<!DOCTYPE x [<!ENTITY a "b">]><View/>'},
        {"tasks": [{"no": "data"}]},
        {"tasks": ["text"]},
    ):
        reply = await crowd.call("POST", path, crowd.platform, body)
        assert (reply.status, reply.body["type"]) == (422, "validation-error"), body
    assert (await crowd.call("GET", f"/api/v1/projects/{pid}/results?format=label-studio", crowd.platform)).text == "[]"


async def test_a_label_studio_import_obeys_the_batch_limits(crowd: Crowd) -> None:
    """Whatever the batches API refuses, the import refuses alike, with a
    422 that names the row: never a 500 (an id past the column's length was
    one on PostgreSQL) and never a partial batch."""
    pid = (await crowd.new_project())["id"]
    imports = f"/api/v1/projects/{pid}/label-studio/import"
    batches = f"/api/v1/projects/{pid}/batches"
    long_id = "x" * (MAX_EXTERNAL_ID + 1)
    for tasks, row_error in (
        ([{"id": 1, "data": {}}, {"id": long_id, "data": {"text": "t"}}], {"row": 1, "field": "external_id"}),
        ([{"id": {"nested": 1}, "data": {"text": "t"}}], {"row": 0, "field": "external_id"}),
        ([{"id": True, "data": {"text": "t"}}], {"row": 0, "field": "external_id"}),
    ):
        reply = await crowd.call("POST", imports, crowd.platform, {"tasks": tasks})
        assert (reply.status, reply.body["type"]) == (422, "validation-error"), reply.text
        assert [{k: e[k] for k in row_error} for e in reply.body["errors"]] == [row_error], reply.body
    as_batch = {"tasks": [{"external_id": long_id, "data": {"text": "t"}}]}
    assert (await crowd.call("POST", batches, crowd.platform, as_batch)).status == 422  # the same limit
    too_many = [{"data": {"i": i}} for i in range(MAX_TASKS_PER_BATCH + 1)]
    assert (await crowd.call("POST", imports, crowd.platform, {"tasks": too_many})).status == 422
    key = {"Idempotency-Key": "k" * 201}
    reply = await crowd.call("POST", imports, crowd.platform, {"tasks": label_studio_export(1)}, headers=key)
    assert (reply.status, reply.body["type"]) == (422, "validation-error"), reply.text
    assert await crowd.results(pid) == []  # nothing was stored
    longest = [{"id": "y" * MAX_EXTERNAL_ID, "data": {"text": "t"}}]
    assert (await crowd.call("POST", imports, crowd.platform, {"tasks": longest})).status == 201
