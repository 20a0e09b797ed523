"""Operator endpoints: the crowd itself."""

from __future__ import annotations

from aiohttp import web

from crowd.api import views
from crowd.api.auth import api_key
from crowd.api.bodies import parse
from crowd.api.http import reply
from crowd.api.keys import CLOCK, DATABASE
from crowd.api.models import WorkerIn
from crowd.api.spec import documented
from crowd.identity import service as identity
from crowd.identity.tokens import Role

routes = web.RouteTableDef()


@routes.post("/api/v1/workers")
@documented("operator", body=WorkerIn, statuses=(201,))
async def create_worker(request: web.Request) -> web.Response:
    await api_key(request, Role.OPERATOR)
    body = await parse(request, WorkerIn)
    new_worker, token = await identity.create_worker(request.app[DATABASE], request.app[CLOCK], name=body.name)
    return reply({**views.worker(new_worker), "token": token}, status=201)
