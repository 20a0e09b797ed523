"""Workforces: every worker belongs to the organization whose operator made
it, and a project is listed, leased, answered, skipped and reported only by
its own organization's workers (issue 19, "Organizations")."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from crowd.api.keys import CLOCK, DATABASE
from crowd.db.schema import workers
from crowd.identity import service as identity
from crowd.identity.tokens import Role
from tests.support.crowd import Crowd

SECRET_INSTRUCTIONS = "Acme's confidential labelling guide"


async def operator_of(crowd: Crowd, organization: str) -> str:
    app = crowd.client.server.app  # type: ignore[union-attr]
    _, key = await identity.create_api_key(
        app[DATABASE], app[CLOCK], organization=organization, role=Role.OPERATOR, name="o"
    )
    return key


async def worker_of(crowd: Crowd, operator_key: str, name: str) -> tuple[str, str]:
    """A worker made through the API by ``operator_key``: (id, token)."""
    created = await crowd.ok("POST", "/api/v1/workers", operator_key, {"name": name})
    return created["id"], created["token"]


async def acme_project(crowd: Crowd, tasks: int = 3, **settings: Any) -> str:
    project = await crowd.new_project(
        instructions=SECRET_INSTRUCTIONS, gold_rate=0.0, onboarding_gold_rate=0.0, **settings
    )
    await crowd.submit(project["id"], tasks)
    return str(project["id"])


async def test_evils_worker_does_not_list_acmes_projects(crowd: Crowd) -> None:
    """The reported attack, first half: an operator of "evil" makes a worker;
    that worker lists acme's active projects with their instructions."""
    pid = await acme_project(crowd)
    evil = await operator_of(crowd, "evil")
    _, spy = await worker_of(crowd, evil, "spy")

    listed = await crowd.ok("GET", "/api/v1/work/projects", spy)
    assert listed["items"] == []
    assert SECRET_INSTRUCTIONS not in str(listed)

    _, ann = await worker_of(crowd, crowd.operator, "ann")  # acme's own worker sees it as before
    assert [p["id"] for p in (await crowd.ok("GET", "/api/v1/work/projects", ann))["items"]] == [pid]


async def test_evils_worker_leases_none_of_acmes_tasks(crowd: Crowd) -> None:
    """The reported attack, second half: that worker leases acme's private
    task data, asking for any project or for acme's by id."""
    pid = await acme_project(crowd)
    evil = await operator_of(crowd, "evil")
    _, spy = await worker_of(crowd, evil, "spy")

    assert await crowd.next(spy) is None  # any project: nothing
    reply = await crowd.call("GET", f"/api/v1/work/next?project_id={pid}", spy)
    assert (reply.status, reply.body["type"]) == (404, "not-found")  # as if it did not exist
    assert "task" not in reply.text

    _, ann = await worker_of(crowd, crowd.operator, "ann")  # acme's own worker is served as before
    lease = await crowd.next(ann)
    assert lease is not None
    assert lease["project"]["instructions"] == SECRET_INSTRUCTIONS


async def test_a_lease_from_before_organizations_is_not_answered_across_them(crowd: Crowd) -> None:
    """A worker that held a lease in another organization's project (as
    workers of every organization could before) cannot answer, skip or
    report it, nor get it back, once it belongs elsewhere."""
    pid = await acme_project(crowd)
    ann_id, ann = await worker_of(crowd, crowd.operator, "ann")
    lease = await crowd.next(ann, pid)
    assert lease is not None
    app = crowd.client.server.app  # type: ignore[union-attr]
    evil = await identity.create_api_key(app[DATABASE], app[CLOCK], organization="evil", role=Role.OPERATOR, name="o")
    async with app[DATABASE].transaction() as conn:
        await conn.execute(
            update(workers).where(workers.c.id == ann_id).values(organization_id=evil[0].organization_id)
        )
    crowd.clock.advance(6)  # past the process's cached lookup of the token (CROWD_AUTH_CACHE_SECONDS)

    assignment = lease["assignment_id"]
    for action, body in (("answer", {"label": "cat"}), ("skip", None), ("report", {"reason": "unclear"})):
        reply = await crowd.call("POST", f"/api/v1/work/assignments/{assignment}/{action}", ann, body)
        assert (reply.status, reply.body["type"]) == (404, "not-found"), action
    assert await crowd.next(ann) is None
    answers = await crowd.ok("GET", f"/api/v1/projects/{pid}/answers", crowd.platform)
    assert answers["items"] == []


# --- groups ------------------------------------------------------------------


async def group(crowd: Crowd, name: str, *members: str, operator: str | None = None) -> dict[str, Any]:
    made = await crowd.ok("POST", "/api/v1/groups", operator or crowd.operator, {"name": name})
    for worker_id in members:
        await crowd.ok("PUT", f"/api/v1/groups/{made['id']}/workers/{worker_id}", operator or crowd.operator)
    return dict(made)


async def test_a_project_requiring_groups_is_served_to_workers_in_all_of_them(crowd: Crowd) -> None:
    ann_id, ann = await worker_of(crowd, crowd.operator, "ann")
    ben_id, ben = await worker_of(crowd, crowd.operator, "ben")
    _, cid = await worker_of(crowd, crowd.operator, "cid")
    await group(crowd, "german", ann_id, ben_id)
    vetted = await group(crowd, "vetted", ann_id)
    pid = await acme_project(crowd, min_overlap=3, required_groups=["vetted", "german"])
    project = await crowd.ok("GET", f"/api/v1/projects/{pid}", crowd.platform)
    assert project["required_groups"] == ["german", "vetted"]

    def listed(page: dict[str, Any]) -> list[str]:
        return [p["id"] for p in page["items"]]

    assert listed(await crowd.ok("GET", "/api/v1/work/projects", ann)) == [pid]
    for outsider in (ben, cid):  # ben lacks one of the two, cid both
        assert listed(await crowd.ok("GET", "/api/v1/work/projects", outsider)) == []
        assert await crowd.next(outsider, pid) is None  # 204, as for a project with no work
        assert await crowd.next(outsider) is None
    assert await crowd.next(ann, pid) is not None

    # out of the group: no more work from the project, from the next claim on
    await crowd.ok("DELETE", f"/api/v1/groups/{vetted['id']}/workers/{ann_id}", crowd.operator)
    assert await crowd.next(ann, pid) is None
    assert listed(await crowd.ok("GET", "/api/v1/work/projects", ann)) == []

    # the requirement lifted by PATCH: everyone is served again
    patched = await crowd.ok("PATCH", f"/api/v1/projects/{pid}", crowd.operator, {"required_groups": []})
    assert patched["required_groups"] == []
    assert await crowd.next(cid, pid) is not None
    assert listed(await crowd.ok("GET", "/api/v1/work/projects", ben)) == [pid]


async def test_required_groups_name_groups_of_the_projects_organization(crowd: Crowd) -> None:
    await group(crowd, "vetted")
    rival_operator = await operator_of(crowd, "rival")
    await group(crowd, "theirs", operator=rival_operator)
    base = {"name": "P", "labels": ["a", "b"]}
    for required, loc in (
        (["nope"], ["required_groups", 0]),
        (["vetted", "theirs"], ["required_groups", 1]),  # another organization's group does not exist here
    ):
        reply = await crowd.call("POST", "/api/v1/projects", crowd.platform, {**base, "required_groups": required})
        assert (reply.status, reply.body["type"]) == (422, "validation-error"), required
        assert [e["loc"] for e in reply.body["errors"]] == [loc]
    for bad in (["vetted", "vetted"], [""], ["g"] * 21, "vetted"):
        reply = await crowd.call("POST", "/api/v1/projects", crowd.platform, {**base, "required_groups": bad})
        assert (reply.status, reply.body["type"]) == (422, "validation-error"), bad
    pid = (await crowd.new_project())["id"]
    for bad in (["theirs"], None):
        reply = await crowd.call("PATCH", f"/api/v1/projects/{pid}", crowd.operator, {"required_groups": bad})
        assert (reply.status, reply.body["type"]) == (422, "validation-error"), bad
    assert (await crowd.ok("GET", f"/api/v1/projects/{pid}", crowd.platform))["required_groups"] == []
    listed = await crowd.ok("GET", "/api/v1/projects", crowd.operator)
    assert [p["required_groups"] for p in listed["items"]] == [[]]


async def test_groups_are_managed_inside_the_operators_organization(crowd: Crowd) -> None:
    ann_id, _ = await worker_of(crowd, crowd.operator, "ann")
    made = await group(crowd, "vetted")
    assert (made["name"], made["workers"]) == ("vetted", 0)
    assert made["id"].startswith("grp_")
    reply = await crowd.call("POST", "/api/v1/groups", crowd.operator, {"name": "vetted"})
    assert (reply.status, reply.body["type"]) == (409, "conflict")
    gid = made["id"]
    for _ in range(2):  # putting a member in twice is putting it in once
        added = await crowd.ok("PUT", f"/api/v1/groups/{gid}/workers/{ann_id}", crowd.operator)
        assert (added["group"]["workers"], added["member"]) == (1, True)
    assert [w["id"] for w in (await crowd.ok("GET", f"/api/v1/groups/{gid}/workers", crowd.operator))["items"]] == [
        ann_id
    ]
    assert (await crowd.ok("GET", f"/api/v1/workers/{ann_id}", crowd.operator))["groups"] == ["vetted"]
    assert (await crowd.ok("GET", "/api/v1/groups", crowd.platform))["items"] == [{**made, "workers": 1}]

    rival_operator = await operator_of(crowd, "rival")
    eve_id, _ = await worker_of(crowd, rival_operator, "eve")
    theirs = await group(crowd, "vetted", operator=rival_operator)  # names are per organization
    for method, path in (
        ("GET", f"/api/v1/groups/{gid}"),
        ("GET", f"/api/v1/groups/{gid}/workers"),
        ("PUT", f"/api/v1/groups/{gid}/workers/{eve_id}"),
        ("DELETE", f"/api/v1/groups/{gid}/workers/{ann_id}"),
        ("PUT", f"/api/v1/groups/{theirs['id']}/workers/{ann_id}"),  # their group, acme's worker
        ("DELETE", f"/api/v1/groups/{gid}"),
    ):
        reply = await crowd.call(method, path, rival_operator)
        assert (reply.status, reply.body["type"]) == (404, "not-found"), (method, path)
    reply = await crowd.call("PUT", f"/api/v1/groups/{gid}/workers/{eve_id}", crowd.operator)  # acme's group, eve
    assert (reply.status, reply.body["type"]) == (404, "not-found")
    assert (await crowd.ok("GET", f"/api/v1/groups/{gid}", crowd.operator))["workers"] == 1

    pid = (await crowd.new_project(required_groups=["vetted"]))["id"]
    reply = await crowd.call("DELETE", f"/api/v1/groups/{gid}", crowd.operator)
    assert (reply.status, reply.body["type"], reply.body["projects"]) == (409, "conflict", [pid])
    await crowd.ok("PATCH", f"/api/v1/projects/{pid}", crowd.platform, {"required_groups": []})
    assert (await crowd.call("DELETE", f"/api/v1/groups/{gid}", crowd.operator)).status == 204
    assert (await crowd.call("GET", f"/api/v1/groups/{gid}", crowd.operator)).status == 404
    assert (await crowd.ok("GET", f"/api/v1/workers/{ann_id}", crowd.operator))["groups"] == []


# --- deactivation and revocation ---------------------------------------------


async def test_a_deactivated_workers_leases_are_released_and_its_token_refused(crowd: Crowd) -> None:
    pid = await acme_project(crowd, tasks=1, min_overlap=1, reward=5, budget=100)
    ann_id, ann = await worker_of(crowd, crowd.operator, "ann")
    _, ben = await worker_of(crowd, crowd.operator, "ben")
    assert await crowd.next(ann, pid) is not None
    assert await crowd.next(ben, pid) is None  # the one slot is ann's
    assert (await crowd.ok("GET", f"/api/v1/projects/{pid}/spend", crowd.platform))["committed"] == 5

    done = await crowd.ok("POST", f"/api/v1/workers/{ann_id}/deactivate", crowd.operator)
    assert (done["active"], done["released"]) == (False, 1)
    assert done["deactivated_at"] is not None
    assert (await crowd.ok("GET", f"/api/v1/projects/{pid}/spend", crowd.platform))["committed"] == 0
    assert await crowd.next(ben, pid) is not None  # the slot is free again

    # No claim serves ann from now on, though this process still trusts her token for a moment ...
    reply = await crowd.call("GET", f"/api/v1/work/next?project_id={pid}", ann)
    assert (reply.status, reply.body["type"]) == (401, "unauthorized")
    assert (await crowd.call("GET", "/api/v1/work/me", ann)).status == 200
    # ... and past the cache's TTL nothing at all
    crowd.clock.advance(5.1)
    reply = await crowd.call("GET", "/api/v1/work/me", ann)
    assert (reply.status, reply.body["type"]) == (401, "unauthorized")

    again = await crowd.ok("POST", f"/api/v1/workers/{ann_id}/deactivate", crowd.operator)
    assert (again["deactivated_at"], again["released"]) == (done["deactivated_at"], 0)
    listed = await crowd.ok("GET", "/api/v1/workers", crowd.operator)
    assert {w["name"]: w["active"] for w in listed["items"]} == {"ann": False, "ben": True}

    back = await crowd.ok("POST", f"/api/v1/workers/{ann_id}/reactivate", crowd.operator)
    assert (back["active"], back["deactivated_at"]) == (True, None)
    assert (await crowd.call("GET", "/api/v1/work/me", ann)).status == 200  # at once: refusals are not cached


async def test_a_revoked_key_is_refused_within_the_cache_ttl(crowd: Crowd) -> None:
    app = crowd.client.server.app  # type: ignore[union-attr]
    spare, secret = await identity.create_api_key(
        app[DATABASE], app[CLOCK], organization="acme", role=Role.PLATFORM, name="ci"
    )
    assert (await crowd.call("GET", "/api/v1/projects", secret)).status == 200  # looked up, now cached

    revoked = await crowd.ok("POST", f"/api/v1/keys/{spare.id}/revoke", crowd.operator)
    assert (revoked["id"], revoked["name"], revoked["role"]) == (spare.id, "ci", "platform")
    assert revoked["revoked_at"] is not None
    crowd.clock.advance(4.9)
    assert (await crowd.call("GET", "/api/v1/projects", secret)).status == 200  # the TTL bounds the delay ...
    crowd.clock.advance(0.2)
    reply = await crowd.call("GET", "/api/v1/projects", secret)
    assert (reply.status, reply.body["type"]) == (401, "unauthorized")  # ... and no more

    again = await crowd.ok("POST", f"/api/v1/keys/{spare.id}/revoke", crowd.operator)
    assert again == revoked
    keys = {k["name"]: k for k in (await crowd.ok("GET", "/api/v1/keys", crowd.operator))["items"]}
    assert set(keys) == {"p", "o", "ci"}  # acme's keys only, never a secret
    assert keys["ci"]["revoked_at"] == revoked["revoked_at"]
    assert keys["p"]["revoked_at"] is None
    assert all("secret" not in k and secret not in str(k) for k in keys.values())


async def test_another_organizations_operator_cannot_find_these_workers_or_keys(crowd: Crowd) -> None:
    ann_id, ann = await worker_of(crowd, crowd.operator, "ann")
    rival_operator = await operator_of(crowd, "rival")
    keys = (await crowd.ok("GET", "/api/v1/keys", crowd.operator))["items"]
    rival_project = await crowd.ok("POST", "/api/v1/projects", crowd.rival, {"name": "theirs", "labels": ["a", "b"]})
    for method, path in (
        ("GET", f"/api/v1/workers/{ann_id}"),
        ("POST", f"/api/v1/workers/{ann_id}/deactivate"),
        ("POST", f"/api/v1/workers/{ann_id}/reactivate"),
        ("POST", f"/api/v1/projects/{rival_project['id']}/workers/{ann_id}/block"),  # on their own project
        *(("POST", f"/api/v1/keys/{k['id']}/revoke") for k in keys),
    ):
        reply = await crowd.call(method, path, rival_operator)
        assert (reply.status, reply.body["type"]) == (404, "not-found"), (method, path)
    assert (await crowd.ok("GET", "/api/v1/workers", rival_operator))["items"] == []
    assert all(
        k["organization_id"] != keys[0]["organization_id"]
        for k in (await crowd.ok("GET", "/api/v1/keys", rival_operator))["items"]
    )
    crowd.clock.advance(6)
    assert (await crowd.call("GET", "/api/v1/work/me", ann)).status == 200
    assert (await crowd.call("GET", "/api/v1/projects", crowd.platform)).status == 200


async def test_the_worker_list_is_paged(crowd: Crowd) -> None:
    made = sorted([(await worker_of(crowd, crowd.operator, f"w{i}"))[0] for i in range(5)])
    seen: list[str] = []
    cursor = ""
    while True:
        page = await crowd.ok("GET", f"/api/v1/workers?limit=2&cursor={cursor}", crowd.operator)
        assert len(page["items"]) <= 2
        seen += [w["id"] for w in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == made
    reply = await crowd.call("GET", "/api/v1/workers?cursor=prj_x", crowd.operator)
    assert (reply.status, reply.body["type"]) == (400, "invalid-cursor")


# --- /work/projects pages ----------------------------------------------------


async def test_open_projects_come_in_pages_in_offer_order(crowd: Crowd) -> None:
    made: list[tuple[int, int, str]] = []
    for i, priority in enumerate([0, 5, 0, 5, -1, 0, 5]):
        project = await crowd.new_project(name=f"p{i}", priority=priority)
        made.append((-priority, i, project["id"]))
        crowd.clock.advance(1)  # each younger than the one before
    _, ann = await worker_of(crowd, crowd.operator, "ann")
    seen: list[str] = []
    cursor = ""
    while True:
        page = await crowd.ok("GET", f"/api/v1/work/projects?limit=3&cursor={cursor}", ann)
        assert len(page["items"]) <= 3
        seen += [p["id"] for p in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [pid for *_, pid in sorted(made)]  # priority first, then oldest first
    everything = await crowd.ok("GET", "/api/v1/work/projects?limit=100", ann)
    assert ([p["id"] for p in everything["items"]], everything["next_cursor"]) == (seen, None)
    rivals = await crowd.ok("POST", "/api/v1/projects", crowd.rival, {"name": "theirs", "labels": ["a", "b"]})
    for bad in ("nonsense", "aWQ6MTI", "wrk_0123", "prj_missing", rivals["id"]):  # theirs cannot be probed either
        reply = await crowd.call("GET", f"/api/v1/work/projects?cursor={bad}", ann)
        assert (reply.status, reply.body["type"]) == (400, "invalid-cursor"), bad
    reply = await crowd.call("GET", "/api/v1/work/projects?limit=101", ann)
    assert (reply.status, reply.body["type"]) == (422, "validation-error")
