"""Every API endpoint against every kind of caller: nobody, the worker whose
assignment it is, another worker of the same organization, a worker of a
rival organization, and the platform, operator and reviewer keys of the
organization that owns the objects and of the rival one.

The table below is the intent, written by hand; the test fails when an
endpoint answers any caller otherwise, when a rival caller let in is shown
any of the owner's ids, and when the server has an endpoint the table does
not list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from crowd.api.keys import CLOCK, DATABASE
from crowd.identity import service as identity
from crowd.identity.tokens import Role
from tests.support.crowd import Crowd, Reply

CALLERS = ("nobody", "ann", "ben", "eve", "platform", "operator", "reviewer", "rival", "rival_operator")
WORKERS = {"ann", "ben", "eve"}  # ann and ben work for acme, eve for the rival
ROLES = {
    "platform": Role.PLATFORM,
    "operator": Role.OPERATOR,
    "reviewer": Role.REVIEWER,
    "rival": Role.PLATFORM,
    "rival_operator": Role.OPERATOR,
}
RIVALS = {"rival", "rival_operator", "eve"}

PLATFORM, OPERATOR, REVIEWER = Role.PLATFORM, Role.OPERATOR, Role.REVIEWER
KEYS = (PLATFORM, OPERATOR)


@dataclass(frozen=True)
class Endpoint:
    method: str
    pattern: str
    roles: tuple[Role, ...] = ()  # the key roles let in; none: a worker endpoint
    scoped: bool = True  # names an object of one organization (or one worker's assignment)
    body: Any = None
    query: str = ""  # sent with the path, e.g. the project a worker asks work of
    workers: frozenset[str] = frozenset({"ann"})  # of a scoped worker endpoint, the workers let in

    def path(self, ids: dict[str, str]) -> str:
        return (self.pattern + self.query).format(**ids)


ACME_WORKERS = frozenset({"ann", "ben"})

ENDPOINTS = [
    Endpoint("POST", "/api/v1/projects", (PLATFORM,), scoped=False, body={"name": "x", "labels": ["a", "b"]}),
    Endpoint("GET", "/api/v1/projects", KEYS, scoped=False),
    Endpoint("GET", "/api/v1/projects/{project_id}", KEYS),
    Endpoint("PATCH", "/api/v1/projects/{project_id}", KEYS, body={"gold_rate": 0.1}),
    Endpoint("POST", "/api/v1/projects/{project_id}/batches", (PLATFORM,), body={"tasks": [{"data": {"x": 1}}]}),
    Endpoint("GET", "/api/v1/batches/{batch_id}", KEYS),
    Endpoint("GET", "/api/v1/projects/{project_id}/results", KEYS),
    Endpoint("GET", "/api/v1/projects/{project_id}/answers", KEYS),
    Endpoint("POST", "/api/v1/workers", (OPERATOR,), scoped=False, body={"name": "w"}),
    Endpoint("GET", "/api/v1/workers", (OPERATOR,), scoped=False),
    Endpoint("GET", "/api/v1/workers/{worker_id}", (OPERATOR,)),
    Endpoint("POST", "/api/v1/workers/{worker_id}/deactivate", (OPERATOR,)),
    Endpoint("POST", "/api/v1/workers/{worker_id}/reactivate", (OPERATOR,)),
    Endpoint("GET", "/api/v1/keys", (OPERATOR,), scoped=False),
    Endpoint("POST", "/api/v1/keys/{key_id}/revoke", (OPERATOR,)),
    Endpoint("POST", "/api/v1/groups", (OPERATOR,), scoped=False, body={"name": "new group"}),
    Endpoint("GET", "/api/v1/groups", KEYS, scoped=False),
    Endpoint("GET", "/api/v1/groups/{group_id}", KEYS),
    Endpoint("GET", "/api/v1/groups/{group_id}/workers", (OPERATOR,)),
    Endpoint("PUT", "/api/v1/groups/{group_id}/workers/{worker_id}", (OPERATOR,)),
    Endpoint("GET", "/api/v1/work/next", scoped=False),
    Endpoint("GET", "/api/v1/work/next", query="?project_id={project_id}", workers=ACME_WORKERS),
    Endpoint("POST", "/api/v1/work/assignments/{assignment_id}/answer", body={"label": "cat"}),
    Endpoint("POST", "/api/v1/work/assignments/{assignment_id}/report", body={"reason": "unclear"}),
    Endpoint("POST", "/api/v1/work/assignments/{assignment_id}/skip"),
    Endpoint("GET", "/api/v1/work/projects", scoped=False),
    Endpoint("GET", "/api/v1/work/me", scoped=False),
    Endpoint("GET", "/api/v1/work/ledger", scoped=False),
    Endpoint("POST", "/api/v1/projects/{project_id}/consensus", KEYS),
    Endpoint("GET", "/api/v1/projects/{project_id}/workers", (OPERATOR,)),
    Endpoint(
        "POST",
        "/api/v1/projects/{project_id}/gold",
        KEYS,
        body={"tasks": [{"external_id": "g", "data": {}, "label": "cat"}]},
    ),
    Endpoint("GET", "/api/v1/projects/{project_id}/gold", KEYS),
    Endpoint("POST", "/api/v1/projects/{project_id}/workers/{worker_id}/block", (OPERATOR,)),
    Endpoint("POST", "/api/v1/projects/{project_id}/workers/{worker_id}/unblock", (OPERATOR,)),
    Endpoint("GET", "/api/v1/projects/{project_id}/spend", KEYS),
    Endpoint("POST", "/api/v1/payouts", (OPERATOR,), scoped=False, body={"currency": "USD"}),
    Endpoint("GET", "/api/v1/payouts/{run_id}", (OPERATOR,)),
    Endpoint("GET", "/api/v1/ledger/audit", (OPERATOR,), scoped=False),
    Endpoint("GET", "/api/v1/projects/{project_id}/events", KEYS),
    Endpoint(
        "POST",
        "/api/v1/projects/{project_id}/webhooks",
        KEYS,
        body={"url": "http://127.0.0.1:9/h", "events": ["task.completed"]},
    ),
    Endpoint("GET", "/api/v1/projects/{project_id}/webhooks", KEYS),
    Endpoint("GET", "/api/v1/projects/{project_id}/webhooks/{webhook_id}/deliveries", KEYS),
    # after the rows that read the webhook: deleting it again is a 204 too
    Endpoint("DELETE", "/api/v1/projects/{project_id}/webhooks/{webhook_id}", KEYS),
    Endpoint(
        "POST", "/api/v1/projects/{project_id}/label-studio/import", KEYS, body={"tasks": [{"data": {"text": "x"}}]}
    ),
    Endpoint("GET", "/api/v1/projects/{project_id}/quality", KEYS),
    Endpoint("GET", "/api/v1/projects/{project_id}/drift", KEYS),
    Endpoint("GET", "/api/v1/projects/{project_id}/review", (OPERATOR, REVIEWER)),
    Endpoint("POST", "/api/v1/projects/{project_id}/review", (OPERATOR,), body={"tasks": ["t-0"]}),
    Endpoint("POST", "/api/v1/projects/{project_id}/review/{external_id}", (OPERATOR, REVIEWER), body={"label": "cat"}),
    Endpoint(
        "POST",
        "/api/v1/projects/{project_id}/predictions",
        (PLATFORM,),
        body={"predictions": [{"external_id": "t-0", "model": "m", "label": "cat"}]},
    ),
    Endpoint("GET", "/api/v1/projects/{project_id}/models", KEYS),
    # last: they remove what the endpoints above use
    Endpoint("DELETE", "/api/v1/groups/{group_id}/workers/{worker_id}", (OPERATOR,)),
    Endpoint("DELETE", "/api/v1/groups/{group_id}", (OPERATOR,)),
]

#: Open to anyone by design: probes and the pages (which hold no data). The
#: metrics are not here: they have a listener of their own (crowd.app.metrics_app).
PUBLIC = {"/healthz", "/readyz", "/api/openapi.json", "/", "/operator", "/static/{version}/{name}"}


def intended(endpoint: Endpoint, caller: str) -> int | None:
    """The status the caller must get, or None where the caller is let in
    (then anything but 401, 403 forbidden, 404 and 5xx)."""
    if caller == "nobody":
        return 401
    if not endpoint.roles:  # a worker endpoint
        if caller not in WORKERS:
            return 403
        return 404 if endpoint.scoped and caller not in endpoint.workers else None
    if caller in WORKERS or ROLES[caller] not in endpoint.roles:
        return 403
    return 404 if endpoint.scoped and caller in RIVALS else None


async def test_the_table_lists_every_endpoint(crowd: Crowd) -> None:
    app: web.Application = crowd.client.server.app  # type: ignore[assignment]
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    listed = {(e.method, e.pattern) for e in ENDPOINTS}
    assert served - listed == {("GET", path) for path in PUBLIC}
    assert listed <= served


async def test_the_openapi_document_names_the_same_callers(crowd: Crowd) -> None:
    document = await crowd.ok("GET", "/api/openapi.json")
    documented = {
        (method.upper(), path): set(operation["x-crowd-roles"])
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    intended = {(e.method, e.pattern): {str(r) for r in e.roles} or {"worker"} for e in ENDPOINTS}
    assert documented == intended


async def test_every_endpoint_answers_every_caller_as_intended(crowd: Crowd) -> None:
    app: web.Application = crowd.client.server.app  # type: ignore[assignment]
    db, clock = app[DATABASE], app[CLOCK]
    tokens: dict[str, str | None] = {"nobody": None, "platform": crowd.platform, "operator": crowd.operator}
    tokens["rival"] = crowd.rival
    tokens["reviewer"] = (await identity.create_api_key(db, clock, organization="acme", role=REVIEWER, name="r"))[1]
    tokens["rival_operator"] = (
        await identity.create_api_key(db, clock, organization="rival", role=OPERATOR, name="o")
    )[1]
    tokens["ann"], tokens["ben"], cid = await crowd.new_workers("ann", "ben", "cid")
    eve = await crowd.ok("POST", "/api/v1/workers", tokens["rival_operator"], {"name": "eve"})
    tokens["eve"] = eve["token"]
    spare, _ = await identity.create_api_key(db, clock, organization="acme", role=PLATFORM, name="spare")

    project = await crowd.new_project(min_overlap=3, gold_rate=0.0, onboarding_gold_rate=0.0)
    pid = project["id"]
    batch = await crowd.submit(pid, 3)
    lease = await crowd.next(tokens["ann"], pid)  # type: ignore[arg-type]
    assert lease is not None
    cid_lease = await crowd.next(cid, pid)
    assert cid_lease is not None
    await crowd.answer(cid, cid_lease["assignment_id"], "cat")
    cid_id = (await crowd.ok("GET", "/api/v1/work/me", cid))["id"]
    hook = await crowd.ok(
        "POST",
        f"/api/v1/projects/{pid}/webhooks",
        crowd.platform,
        {"url": "http://127.0.0.1:9/h", "events": ["task.completed"]},
    )
    run = await crowd.ok("POST", "/api/v1/payouts", crowd.operator, {"currency": "USD"})
    group = await crowd.ok("POST", "/api/v1/groups", crowd.operator, {"name": "vetted"})
    ids = {
        "project_id": pid,
        "batch_id": batch["id"],
        "assignment_id": lease["assignment_id"],
        "worker_id": cid_id,
        "webhook_id": hook["id"],
        "run_id": run["id"],
        "external_id": "t-0",
        "group_id": group["id"],
        "key_id": spare.id,
    }
    acme_workers = [(await crowd.ok("GET", "/api/v1/work/me", tokens[name]))["id"] for name in sorted(ACME_WORKERS)]
    acme_ids = {*ids.values(), *acme_workers} - {"t-0"}

    wrong: list[str] = []
    for endpoint in ENDPOINTS:
        path = endpoint.path(ids)
        for caller in CALLERS:
            reply = await crowd.call(endpoint.method, path, tokens[caller], endpoint.body)
            expected = intended(endpoint, caller)
            if not answered_as(reply, expected):
                wrong.append(f"{endpoint.method} {path} as {caller}: {reply.status} {reply.text[:120]}")
            elif caller in RIVALS and reply.status < 400 and (seen := [i for i in acme_ids if i in reply.text]):
                wrong.append(f"{endpoint.method} {path} as {caller} shows acme's {seen}")
    assert not wrong, "\n".join(wrong)


def answered_as(reply: Reply, expected: int | None) -> bool:
    if reply.status >= 500:
        return False
    kind = reply.body.get("type") if isinstance(reply.body, dict) else None
    if expected is None:
        return reply.status not in (401, 404) and kind != "forbidden"
    if reply.status != expected or not reply.headers["Content-Type"].startswith("application/problem+json"):
        return False
    return kind == {401: "unauthorized", 403: "forbidden", 404: "not-found"}[expected]
