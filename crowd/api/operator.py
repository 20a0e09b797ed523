"""Operator endpoints: the crowd itself. Workers, their groups and the
organization's keys, each scoped to the operator's own organization: another
organization's ids answer 404, as if they did not exist."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any, TypeVar

from aiohttp import web

from crowd.api import query, spec, views
from crowd.api.auth import api_key
from crowd.api.bodies import parse
from crowd.api.http import reply
from crowd.api.keys import CLOCK, DATABASE, ENGINE
from crowd.api.models import GroupIn, WorkerIn
from crowd.api.spec import documented
from crowd.identity import service as identity
from crowd.identity.tokens import Role
from crowd.workforce import service as workforce

routes = web.RouteTableDef()

OPERATOR = Role.OPERATOR
PAGE = [spec.integer("limit", 1, 1000), spec.CURSOR]


T = TypeVar("T")


def _page(
    items: Sequence[T], limit: int, view: Callable[[T], dict[str, Any]], id_of: Callable[[T], str] = attrgetter("id")
) -> dict[str, Any]:
    """A page of ``limit`` of the ``limit + 1`` objects fetched in id
    order; the next page starts after the last one's id."""
    page = items[:limit]
    return {"items": [view(item) for item in page], "next_cursor": id_of(page[-1]) if len(items) > limit else None}


# workers ---------------------------------------------------------------


@routes.post("/api/v1/workers")
@documented("operator", body=WorkerIn, statuses=(201,))
async def create_worker(request: web.Request) -> web.Response:
    """A new worker of the operator's organization: served only that
    organization's projects. The token is in this reply only."""
    key = await api_key(request, OPERATOR)
    body = await parse(request, WorkerIn)
    new_worker, token = await identity.create_worker_in(
        request.app[DATABASE], request.app[CLOCK], key.organization_id, name=body.name
    )
    return reply({**views.worker(new_worker), "token": token}, status=201)


@routes.get("/api/v1/workers")
@documented("operator", query=PAGE)
async def list_workers(request: web.Request) -> web.Response:
    """The organization's workers by id, deactivated ones included, each with its groups."""
    key = await api_key(request, OPERATOR)
    limit = query.integer(request, "limit", 100, 1, 1000)
    found = await workforce.list_workers(
        request.app[DATABASE], key.organization_id, query.id_cursor(request, "wrk"), limit + 1
    )
    return reply(_page(found, limit, views.member, lambda m: m.worker.id))


@routes.get("/api/v1/workers/{worker_id}")
@documented("operator")
async def get_worker(request: web.Request) -> web.Response:
    key = await api_key(request, OPERATOR)
    found = await workforce.get_worker(request.app[DATABASE], key.organization_id, request.match_info["worker_id"])
    return reply(views.member(found))


@routes.post("/api/v1/workers/{worker_id}/deactivate")
@documented("operator")
async def deactivate_worker(request: web.Request) -> web.Response:
    """Deactivate the worker: its live leases are released now (``released``
    says how many), no claim serves it from now, and its token is refused
    by every process within ``CROWD_AUTH_CACHE_SECONDS``. Idempotent."""
    key = await api_key(request, OPERATOR)
    done = await workforce.deactivate_worker(request.app[ENGINE], key.organization_id, request.match_info["worker_id"])
    return reply({**views.member(done.member), "released": done.released})


@routes.post("/api/v1/workers/{worker_id}/reactivate")
@documented("operator")
async def reactivate_worker(request: web.Request) -> web.Response:
    """Let a deactivated worker work again, with the token it had. Idempotent."""
    key = await api_key(request, OPERATOR)
    found = await workforce.reactivate_worker(
        request.app[DATABASE], key.organization_id, request.match_info["worker_id"]
    )
    return reply(views.member(found))


# keys ------------------------------------------------------------------


@routes.get("/api/v1/keys")
@documented("operator", query=PAGE)
async def list_keys(request: web.Request) -> web.Response:
    """The organization's API keys by id (never their secrets), revoked ones included."""
    key = await api_key(request, OPERATOR)
    limit = query.integer(request, "limit", 100, 1, 1000)
    found = await identity.list_api_keys(
        request.app[DATABASE], key.organization_id, query.id_cursor(request, "key"), limit + 1
    )
    return reply(_page(found, limit, views.api_key))


@routes.post("/api/v1/keys/{key_id}/revoke")
@documented("operator")
async def revoke_key(request: web.Request) -> web.Response:
    """Revoke one of the organization's keys (this one too): every process
    answers it 401 within ``CROWD_AUTH_CACHE_SECONDS``. Idempotent."""
    key = await api_key(request, OPERATOR)
    revoked = await identity.revoke_api_key(
        request.app[DATABASE], request.app[CLOCK], key.organization_id, request.match_info["key_id"]
    )
    return reply(views.api_key(revoked))


# groups ----------------------------------------------------------------


@routes.post("/api/v1/groups")
@documented("operator", body=GroupIn, statuses=(201,))
async def create_group(request: web.Request) -> web.Response:
    """A new, empty group (a qualification) of the organization; 409 if the name is taken."""
    key = await api_key(request, OPERATOR)
    body = await parse(request, GroupIn)
    group = await workforce.create_group(request.app[DATABASE], request.app[CLOCK], key.organization_id, body.name)
    return reply(views.group(group), status=201)


@routes.get("/api/v1/groups")
@documented("platform", "operator", query=PAGE)
async def list_groups(request: web.Request) -> web.Response:
    """The organization's groups by id, each with its number of workers
    (platforms read them to set a project's ``required_groups``)."""
    key = await api_key(request, Role.PLATFORM, OPERATOR)
    limit = query.integer(request, "limit", 100, 1, 1000)
    found = await workforce.list_groups(
        request.app[DATABASE], key.organization_id, query.id_cursor(request, "grp"), limit + 1
    )
    return reply(_page(found, limit, views.group))


@routes.get("/api/v1/groups/{group_id}")
@documented("platform", "operator")
async def get_group(request: web.Request) -> web.Response:
    key = await api_key(request, Role.PLATFORM, OPERATOR)
    group = await workforce.get_group(request.app[DATABASE], key.organization_id, request.match_info["group_id"])
    return reply(views.group(group))


@routes.delete("/api/v1/groups/{group_id}")
@documented("operator", statuses=(204,))
async def delete_group(request: web.Request) -> web.Response:
    """Delete the group and its memberships; 409 while a project requires it."""
    key = await api_key(request, OPERATOR)
    await workforce.delete_group(request.app[DATABASE], key.organization_id, request.match_info["group_id"])
    return web.Response(status=204)


@routes.get("/api/v1/groups/{group_id}/workers")
@documented("operator", query=PAGE)
async def group_workers(request: web.Request) -> web.Response:
    """The group's workers by id."""
    key = await api_key(request, OPERATOR)
    limit = query.integer(request, "limit", 100, 1, 1000)
    found = await workforce.group_members(
        request.app[DATABASE],
        key.organization_id,
        request.match_info["group_id"],
        query.id_cursor(request, "wrk"),
        limit + 1,
    )
    return reply(_page(found, limit, views.worker))


@routes.put("/api/v1/groups/{group_id}/workers/{worker_id}")
@documented("operator")
async def add_group_worker(request: web.Request) -> web.Response:
    """Put one of the organization's workers in the group (already there: nothing changes)."""
    return await _membership(request, True)


@routes.delete("/api/v1/groups/{group_id}/workers/{worker_id}")
@documented("operator")
async def remove_group_worker(request: web.Request) -> web.Response:
    """Take the worker out of the group (not in it: nothing changes)."""
    return await _membership(request, False)


async def _membership(request: web.Request, member: bool) -> web.Response:
    key = await api_key(request, OPERATOR)
    worker_id = request.match_info["worker_id"]
    group = await workforce.set_member(
        request.app[DATABASE],
        request.app[CLOCK],
        key.organization_id,
        request.match_info["group_id"],
        worker_id,
        member,
    )
    return reply({"group": views.group(group), "worker_id": worker_id, "member": member})
