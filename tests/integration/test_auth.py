"""Who may do what: 401 without a valid secret, 403 for the wrong role, 404
for another organization's objects, secrets stored only as hashes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crowd.api.keys import DATABASE
from crowd.db.schema import api_keys, workers
from tests.support.crowd import Crowd


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer crowd_pk_" + "x" * 43, "Bearer nonsense"],
)
async def test_a_missing_or_unknown_secret_is_401(crowd: Crowd, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    reply = await crowd.call("GET", "/api/v1/work/next", headers=headers)
    assert reply.status == 401
    assert reply.body["type"] == "unauthorized"
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    assert "Bearer" in reply.headers["WWW-Authenticate"]


async def test_each_role_is_held_to_its_endpoints(crowd: Crowd) -> None:
    worker = await crowd.new_worker()
    project = await crowd.new_project()
    create = {"name": "x", "labels": ["a", "b"]}
    forbidden = [
        ("POST", "/api/v1/projects", worker, create),
        ("POST", "/api/v1/projects", crowd.operator, create),
        ("POST", "/api/v1/workers", crowd.platform, {"name": "w"}),
        ("POST", "/api/v1/workers", worker, {"name": "w"}),
        ("GET", f"/api/v1/projects/{project['id']}", worker, None),
        ("POST", f"/api/v1/projects/{project['id']}/batches", crowd.operator, {"tasks": [{"data": {}}]}),
        ("GET", "/api/v1/work/next", crowd.platform, None),
        ("GET", "/api/v1/work/me", crowd.operator, None),
    ]
    for method, path, token, body in forbidden:
        reply = await crowd.call(method, path, token, body)
        assert (reply.status, reply.body["type"]) == (403, "forbidden"), (method, path)


async def test_operators_read_and_steer_their_organizations_projects(crowd: Crowd) -> None:
    project = await crowd.new_project()
    read = await crowd.ok("GET", f"/api/v1/projects/{project['id']}", crowd.operator)
    assert read["id"] == project["id"]
    patched = await crowd.ok("PATCH", f"/api/v1/projects/{project['id']}", crowd.operator, {"gold_rate": 0.2})
    assert patched["gold_rate"] == 0.2


async def test_another_organizations_objects_do_not_exist(crowd: Crowd) -> None:
    project = await crowd.new_project()
    batch = await crowd.submit(project["id"], 2)
    pid = project["id"]
    for method, path, body in [
        ("GET", f"/api/v1/projects/{pid}", None),
        ("PATCH", f"/api/v1/projects/{pid}", {"gold_rate": 0.5}),
        ("POST", f"/api/v1/projects/{pid}/batches", {"tasks": [{"data": {"x": 1}}]}),
        ("GET", f"/api/v1/batches/{batch['id']}", None),
        ("GET", f"/api/v1/projects/{pid}/results", None),
        ("GET", f"/api/v1/projects/{pid}/answers", None),
    ]:
        reply = await crowd.call(method, path, crowd.rival, body)
        assert (reply.status, reply.body["type"]) == (404, "not-found"), (method, path)
    mine = await crowd.ok("GET", f"/api/v1/projects/{pid}", crowd.platform)
    assert mine["gold_rate"] == project["gold_rate"]
    progress = await crowd.ok("GET", f"/api/v1/batches/{batch['id']}", crowd.platform)
    assert progress["task_count"] == 2


async def test_a_worker_token_is_shown_once_and_stored_hashed(crowd: Crowd) -> None:
    created = await crowd.ok("POST", "/api/v1/workers", crowd.operator, {"name": "ann"})
    token = created["token"]
    me = await crowd.ok("GET", "/api/v1/work/me", token)
    assert me == {
        "id": created["id"],
        "name": "ann",
        "blocked": False,
        "created_at": created["created_at"],
        "balance": {"pending": 0, "available": 0, "currency": None},
        "balances": [],
        "answers": 0,
        "projects": [],
    }
    assert "token" not in me
    db = crowd.client.server.app[DATABASE]  # type: ignore[union-attr]
    async with db.read() as conn:
        stored = [*(await conn.execute(select(workers.c.token_hash))).scalars()]
        stored += [*(await conn.execute(select(api_keys.c.secret_hash))).scalars()]
    for secret in (token, crowd.platform, crowd.operator, crowd.rival):
        body = secret.split("_", 2)[-1]  # after "crowd_wt_": the random part, which may itself hold a "_"
        assert all(secret not in value and body not in value for value in stored)
