"""Projects: creation with defaults, validation, patching and its effects."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.crowd import LABELS, Crowd


async def test_a_project_is_created_with_every_setting_filled_in(crowd: Crowd) -> None:
    body = {
        "name": "Pets",
        "instructions": "Pick the animal.",
        "labels": LABELS,
        "min_overlap": 3,
        "max_overlap": 5,
        "confidence_target": 0.9,
        "lease_seconds": 600,
        "gold_rate": 0.1,
        "reward": 5,
        "currency": "USD",
        "budget": None,
    }
    reply = await crowd.call("POST", "/api/v1/projects", crowd.platform, body)
    assert reply.status == 201, reply.text
    project = reply.body
    assert project["id"].startswith("prj_")
    assert project["status"] == "active"
    assert {k: project[k] for k in body} == body
    for field in ("priority", "bonus", "review_seconds", "onboarding_tasks", "onboarding_gold_rate",
                  "min_gold_answers", "min_accuracy", "gold_feedback", "review_threshold", "min_seconds",
                  "min_human_answers", "show_predictions", "routing", "min_reliability"):  # fmt: skip
        assert field in project
    assert project == await crowd.ok("GET", f"/api/v1/projects/{project['id']}", crowd.platform)


async def test_max_overlap_defaults_to_min_overlap(crowd: Crowd) -> None:
    project = await crowd.new_project(min_overlap=4)
    assert project["max_overlap"] == 4


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"labels": ["only-one"]}, ["labels"]),
        ({"labels": ["a", "a"]}, []),
        ({"labels": ["a", ""]}, ["labels", 1]),
        ({"min_overlap": 0}, ["min_overlap"]),
        ({"min_overlap": "3"}, ["min_overlap"]),
        ({"min_overlap": 3.5}, ["min_overlap"]),
        ({"confidence_target": 1.5}, ["confidence_target"]),
        ({"gold_rate": -0.1}, ["gold_rate"]),
        ({"reward": -1}, ["reward"]),
        ({"currency": "usd"}, ["currency"]),
        ({"routing": "random"}, ["routing"]),
        ({"gold_feedback": "yes"}, ["gold_feedback"]),
        ({"min_overlapp": 3}, ["min_overlapp"]),
        ({"name": "   "}, ["name"]),
    ],
)
async def test_bad_settings_are_422_with_their_location(crowd: Crowd, change: dict[str, Any], loc: list[Any]) -> None:
    body = {"name": "Pets", "labels": LABELS, **change}
    reply = await crowd.call("POST", "/api/v1/projects", crowd.platform, body)
    assert reply.status == 422, reply.text
    assert reply.body["type"] == "validation-error"
    assert loc in [error["loc"] for error in reply.body["errors"]]


async def test_max_below_min_is_refused_on_create_and_on_patch(crowd: Crowd) -> None:
    reply = await crowd.call(
        "POST", "/api/v1/projects", crowd.platform, {"name": "P", "labels": LABELS, "min_overlap": 3, "max_overlap": 2}
    )
    assert reply.status == 422
    project = await crowd.new_project(min_overlap=2, max_overlap=4)
    reply = await crowd.call("PATCH", f"/api/v1/projects/{project['id']}", crowd.platform, {"min_overlap": 5})
    assert reply.status == 422
    assert reply.body["errors"][0]["loc"] == ["max_overlap"]
    unchanged = await crowd.ok("GET", f"/api/v1/projects/{project['id']}", crowd.platform)
    assert unchanged["min_overlap"] == 2


async def test_a_patch_changes_only_what_it_names(crowd: Crowd) -> None:
    project = await crowd.new_project(budget=1000)
    patched = await crowd.ok(
        "PATCH", f"/api/v1/projects/{project['id']}", crowd.platform, {"reward": 7, "instructions": "New."}
    )
    assert patched["reward"] == 7
    assert patched["instructions"] == "New."
    assert {k: v for k, v in patched.items() if k not in ("reward", "instructions", "updated_at")} == {
        k: v for k, v in project.items() if k not in ("reward", "instructions", "updated_at")
    }
    cleared = await crowd.ok("PATCH", f"/api/v1/projects/{project['id']}", crowd.platform, {"budget": None})
    assert cleared["budget"] is None
    reply = await crowd.call("PATCH", f"/api/v1/projects/{project['id']}", crowd.platform, {"reward": None})
    assert reply.status == 422


async def test_labels_are_fixed_once_answers_exist(crowd: Crowd) -> None:
    project = await crowd.new_project()
    pid = project["id"]
    renamed = await crowd.ok("PATCH", f"/api/v1/projects/{pid}", crowd.platform, {"labels": ["cat", "dog"]})
    assert renamed["labels"] == ["cat", "dog"]
    await crowd.submit(pid, 1)
    worker = await crowd.new_worker()
    lease = await crowd.next(worker, pid)
    assert lease is not None
    assert (await crowd.answer(worker, lease["assignment_id"], "cat")).status == 200
    reply = await crowd.call("PATCH", f"/api/v1/projects/{pid}", crowd.platform, {"labels": ["cat", "dog", "x"]})
    assert (reply.status, reply.body["type"]) == (409, "conflict")


async def test_a_paused_project_hands_out_no_work_until_resumed(crowd: Crowd) -> None:
    project = await crowd.new_project()
    await crowd.submit(project["id"], 2)
    worker = await crowd.new_worker()
    await crowd.ok("PATCH", f"/api/v1/projects/{project['id']}", crowd.operator, {"status": "paused"})
    assert await crowd.next(worker, project["id"]) is None
    assert await crowd.next(worker) is None
    await crowd.ok("PATCH", f"/api/v1/projects/{project['id']}", crowd.operator, {"status": "active"})
    assert await crowd.next(worker, project["id"]) is not None


async def test_raising_the_overlap_reopens_slots_and_lowering_it_completes_tasks(crowd: Crowd) -> None:
    project = await crowd.new_project(min_overlap=2, max_overlap=2)
    pid = project["id"]
    await crowd.submit(pid, 1)
    workers = [await crowd.new_worker(f"w{i}") for i in range(3)]
    for worker in workers[:2]:
        lease = await crowd.next(worker, pid)
        assert lease is not None
        assert (await crowd.answer(worker, lease["assignment_id"], "dog")).status == 200
    [done] = await crowd.results(pid)
    assert done["status"] == "completed"
    assert await crowd.next(workers[2], pid) is None

    second = await crowd.submit(pid, 1, prefix="u")
    assert second["task_count"] == 1
    await crowd.ok("PATCH", f"/api/v1/projects/{pid}", crowd.platform, {"min_overlap": 3, "max_overlap": 3})
    for worker in workers[:2]:
        lease = await crowd.next(worker, pid)
        assert lease is not None
        assert (await crowd.answer(worker, lease["assignment_id"], "cat")).status == 200
    open_task = next(r for r in await crowd.results(pid) if r["external_id"] == "u-0")
    assert (open_task["status"], open_task["answers"]) == ("open", 2)

    await crowd.ok("PATCH", f"/api/v1/projects/{pid}", crowd.platform, {"min_overlap": 2, "max_overlap": 2})
    now_done = next(r for r in await crowd.results(pid) if r["external_id"] == "u-0")
    assert (now_done["status"], now_done["label"], now_done["answers"]) == ("completed", "cat", 2)


async def test_listings_for_operators_and_workers(crowd: Crowd) -> None:
    first = await crowd.new_project(name="First", instructions="Pick **one**. <b>raw</b>")
    crowd.clock.advance(1)
    second = await crowd.new_project(name="Second", reward=7)
    await crowd.call("POST", "/api/v1/projects", crowd.rival, {"name": "Rival", "labels": ["a", "b"]})
    await crowd.submit(first["id"], 3)
    worker = await crowd.new_worker()
    lease = await crowd.next(worker, first["id"])
    assert lease is not None
    await crowd.answer(worker, lease["assignment_id"], "cat")

    listed = (await crowd.ok("GET", "/api/v1/projects", crowd.operator))["items"]
    assert [p["name"] for p in listed] == ["Second", "First"]
    assert listed[1]["progress"] == {"tasks": 3, "completed": 0, "answers": 1}
    assert listed[0]["progress"] == {"tasks": 0, "completed": 0, "answers": 0}

    await crowd.ok("PATCH", f"/api/v1/projects/{second['id']}", crowd.operator, {"status": "paused"})
    open_now = (await crowd.ok("GET", "/api/v1/work/projects", worker))["items"]
    names = {p["name"]: p for p in open_now}
    assert "Second" not in names
    assert names["First"]["open_tasks"] == 3
    assert names["First"]["instructions_html"] == "<p>Pick <strong>one</strong>. &lt;b&gt;raw&lt;/b&gt;</p>\n"
    assert "Rival" not in names  # a worker is served its own organization's projects only
    me = await crowd.ok("GET", "/api/v1/work/me", worker)
    assert me["answers"] == 1
    assert me["projects"] == [
        {"project_id": first["id"], "name": "First", "answers": 1, "blocked": False, "reliability": None}
    ]


async def test_a_null_setting_on_create_asks_for_its_default(crowd: Crowd) -> None:
    body = {"name": "n", "labels": ["a", "b"], "min_overlap": None, "routing": None, "currency": None, "budget": None}
    created = await crowd.ok("POST", "/api/v1/projects", crowd.platform, body)
    defaults = await crowd.ok("POST", "/api/v1/projects", crowd.platform, {"name": "d", "labels": ["a", "b"]})
    for setting in ("min_overlap", "max_overlap", "routing", "currency", "budget"):
        assert created[setting] == defaults[setting], setting
