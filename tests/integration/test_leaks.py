"""Invariant 5: no worker-facing reply, success or error, carries a gold
label, a gold flag or a task id before the worker has answered."""

from __future__ import annotations

import json
from typing import Any

from tests.support.crowd import Crowd, Reply

SECRETS = ("GOLDEXT", "REALEXT", "SECRET-EXPLANATION", "is_gold", "gold", "task_id", "external_id")
ALLOWED_KEYS = {
    "assignment_id", "expires_at", "data", "project", "id", "name", "instructions", "instructions_html", "labels",
    "reward", "currency", "lease_seconds", "answers", "projects", "project_id", "reliability", "items", "open_tasks",
    "balance", "balances", "pending", "available", "next_cursor",
    "status", "label", "at", "type", "title", "detail", "errors", "loc", "msg", "blocked", "created_at",
    "text", "n",  # the task data of this test
}  # fmt: skip
ALLOWED_HEADERS = {
    "content-type", "content-length", "date", "server", "x-request-id", "www-authenticate", "retry-after",
    "content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy",
}  # fmt: skip


def keys_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


def assert_clean(reply: Reply, what: str) -> None:
    assert {h.lower() for h in reply.headers} <= ALLOWED_HEADERS, (what, reply.headers)
    for secret in SECRETS:
        assert secret not in reply.text, (what, secret, reply.text)
        assert all(secret not in value for value in reply.headers.values()), (what, secret)
    if reply.body is not None:
        assert keys_of(reply.body) <= ALLOWED_KEYS, (what, keys_of(reply.body) - ALLOWED_KEYS)


async def test_no_worker_reply_leaks_gold_or_task_ids(crowd: Crowd) -> None:
    project = await crowd.new_project(
        min_overlap=1, gold_rate=0.5, onboarding_gold_rate=0.5, min_gold_answers=3, min_accuracy=0.99, lease_seconds=60
    )
    pid = project["id"]
    real = [{"external_id": f"REALEXT-{i}", "data": {"text": f"item {i}", "n": i}} for i in range(40)]
    await crowd.ok("POST", f"/api/v1/projects/{pid}/batches", crowd.platform, {"tasks": real})
    gold = [
        {"external_id": f"GOLDEXT-{i}", "data": {"text": f"item g{i}", "n": 100 + i}, "label": "other",
         "explanation": "SECRET-EXPLANATION"}
        for i in range(40)
    ]  # fmt: skip
    await crowd.ok("POST", f"/api/v1/projects/{pid}/gold", crowd.platform, {"tasks": gold})
    ann, ben = await crowd.new_workers("ann", "ben")
    replies: list[tuple[str, Reply]] = []

    async def call(what: str, method: str, path: str, token: str | None, body: Any = None) -> Reply:
        reply = await crowd.call(method, path, token, body)
        replies.append((what, reply))
        return reply

    shapes = set()
    for round_ in range(12):
        lease = await call("next", "GET", f"/api/v1/work/next?project_id={pid}", ann)
        if lease.status != 200:
            break
        shapes.add(json.dumps(sorted(keys_of(lease.body))))
        assignment = lease.body["assignment_id"]
        path = f"/api/v1/work/assignments/{assignment}"
        await call("next again", "GET", f"/api/v1/work/next?project_id={pid}", ann)
        await call("next anywhere", "GET", "/api/v1/work/next", ann)
        await call("unknown label", "POST", f"{path}/answer", ann, {"label": "horse"})
        await call("bad body", "POST", f"{path}/answer", ann, {"label": 3})
        await call("someone else's", "POST", f"{path}/answer", ben, {"label": "cat"})
        await call("someone else's skip", "POST", f"{path}/skip", ben)
        if round_ % 4 == 1:
            await call("report", "POST", f"{path}/report", ann, {"reason": "unclear"})
            await call("report again", "POST", f"{path}/report", ann, {"reason": "unclear"})
            await call("answer reported", "POST", f"{path}/answer", ann, {"label": "cat"})
            continue
        if round_ % 4 == 3:
            await call("skip", "POST", f"{path}/skip", ann)
            await call("skip again", "POST", f"{path}/skip", ann)
            await call("answer skipped", "POST", f"{path}/answer", ann, {"label": "cat"})
            continue
        if round_ % 4 == 2:
            crowd.clock.advance(61)  # answer after the lease ran out
        await call("answer", "POST", f"{path}/answer", ann, {"label": "cat"})
        await call("retry", "POST", f"{path}/answer", ann, {"label": "cat"})
        await call("other label", "POST", f"{path}/answer", ann, {"label": "dog"})
        await call("skip answered", "POST", f"{path}/skip", ann)
        await call("me", "GET", "/api/v1/work/me", ann)
        await call("projects", "GET", "/api/v1/work/projects", ann)
    await call("no token", "GET", "/api/v1/work/next", None)
    await call("bad token", "GET", "/api/v1/work/next", "crowd_wt_" + "x" * 43)
    await call("wrong role", "GET", f"/api/v1/projects/{pid}", ann)
    await call("wait too long", "GET", "/api/v1/work/next?wait=99", ann)

    assert len(shapes) == 1, "gold and real leases have one shape"
    statuses = {reply.status for _, reply in replies}
    assert {200, 401, 403, 404, 409, 422} <= statuses
    assert any(what == "next" and reply.status == 403 for what, reply in replies), "ann got blocked by gold"
    for what, reply in replies:
        assert_clean(reply, what)
