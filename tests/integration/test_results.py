"""Results and answers out: JSON pages with cursors, JSONL and CSV streams."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.support.crowd import Crowd


async def finished_project(crowd: Crowd, n: int) -> tuple[str, list[str]]:
    """A project whose ``n`` tasks each got a cat and a dog answer (ties: cat)."""
    pid = (await crowd.new_project(min_overlap=2))["id"]
    await crowd.submit(pid, n)
    workers = await crowd.new_workers("ann", "ben")
    for worker, label in zip(workers, ("cat", "dog"), strict=True):
        while (lease := await crowd.next(worker, pid)) is not None:
            assert (await crowd.answer(worker, lease["assignment_id"], label)).status == 200
    return pid, workers


async def test_results_page_through_every_task_once(crowd: Crowd) -> None:
    pid, _ = await finished_project(crowd, 7)
    page = await crowd.ok("GET", f"/api/v1/projects/{pid}/results?limit=3", crowd.platform)
    assert len(page["items"]) == 3
    assert page["next_cursor"]
    items = await crowd.results(pid, limit="3")
    assert [item["external_id"] for item in items] == [f"t-{i}" for i in range(7)]
    first = items[0]
    assert {k: first[k] for k in ("external_id", "status", "label", "answers")} == {
        "external_id": "t-0",
        "status": "completed",
        "label": "cat",  # a cat-dog tie goes to the label listed first
        "answers": 2,
    }
    posterior = first["posterior"]
    assert posterior["cat"] == posterior["dog"] == first["confidence"]
    assert 0 < posterior["other"] < posterior["cat"]
    assert sum(posterior.values()) == pytest.approx(1, abs=1e-5)


async def test_results_filter_by_status(crowd: Crowd) -> None:
    pid, _ = await finished_project(crowd, 2)
    await crowd.submit(pid, 1, prefix="late")
    assert [r["external_id"] for r in await crowd.results(pid, status="open")] == ["late-0"]
    assert len(await crowd.results(pid, status="completed")) == 2


async def test_results_stream_as_jsonl_and_csv(crowd: Crowd) -> None:
    pid, _ = await finished_project(crowd, 3)
    jsonl = await crowd.call("GET", f"/api/v1/projects/{pid}/results?format=jsonl", crowd.platform)
    assert jsonl.status == 200
    assert jsonl.headers["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in jsonl.text.splitlines()]
    assert lines == await crowd.results(pid)

    reply = await crowd.call("GET", f"/api/v1/projects/{pid}/results?format=csv", crowd.platform)
    assert reply.headers["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(reply.text)))
    assert list(table[0]) == [
        "external_id", "status", "label", "confidence", "answers", "posterior_cat", "posterior_dog", "posterior_other",
    ]  # fmt: skip
    assert [row["external_id"] for row in table] == ["t-0", "t-1", "t-2"]
    assert float(table[0]["posterior_dog"]) == lines[0]["posterior"]["dog"]


async def test_answers_export_reads_as_crowd_kit_expects(crowd: Crowd) -> None:
    pid, workers = await finished_project(crowd, 3)
    me = [await crowd.ok("GET", "/api/v1/work/me", token) for token in workers]
    reply = await crowd.call("GET", f"/api/v1/projects/{pid}/answers?format=csv", crowd.platform)
    table = list(csv.DictReader(io.StringIO(reply.text)))
    assert reply.text.splitlines()[0] == "task,worker,label,created_at"
    assert len(table) == 6
    assert {(row["task"], row["worker"], row["label"]) for row in table} == {
        (f"t-{i}", w["id"], label) for i in range(3) for w, label in zip(me, ("cat", "dog"), strict=True)
    }
    page = await crowd.ok("GET", f"/api/v1/projects/{pid}/answers?limit=4", crowd.platform)
    assert len(page["items"]) == 4
    assert set(page["items"][0]) == {"task", "worker", "label", "created_at"}
    rest = await crowd.ok("GET", f"/api/v1/projects/{pid}/answers?cursor={page['next_cursor']}", crowd.platform)
    assert len(rest["items"]) == 2
    assert rest["next_cursor"] is None
    jsonl = await crowd.call("GET", f"/api/v1/projects/{pid}/answers?format=jsonl", crowd.platform)
    assert [json.loads(line) for line in jsonl.text.splitlines()] == page["items"] + rest["items"]


async def test_streams_cross_page_boundaries(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    tasks = [{"external_id": f"x{i:05d}", "data": {"i": i}} for i in range(2500)]
    await crowd.ok("POST", f"/api/v1/projects/{pid}/batches", crowd.platform, {"tasks": tasks})
    reply = await crowd.call("GET", f"/api/v1/projects/{pid}/results?format=csv", crowd.platform)
    ids = [row["external_id"] for row in csv.DictReader(io.StringIO(reply.text))]
    assert ids == [t["external_id"] for t in tasks]


async def test_bad_export_parameters_are_4xx(crowd: Crowd) -> None:
    pid = (await crowd.new_project())["id"]
    for query, kind in [
        ("format=xml", "validation-error"),
        ("limit=0", "validation-error"),
        ("limit=abc", "validation-error"),
        ("status=done", "validation-error"),
        ("cursor=bogus", "invalid-cursor"),
        ("format=csv&cursor=bogus", "invalid-cursor"),
    ]:
        reply = await crowd.call("GET", f"/api/v1/projects/{pid}/results?{query}", crowd.platform)
        assert 400 <= reply.status < 500, query
        assert reply.body["type"] == kind, query
