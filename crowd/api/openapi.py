"""``GET /api/openapi.json``: the API described in OpenAPI 3.1, built from
the routes, the ``@documented`` marks on their handlers and the pydantic
models of the request bodies, so it cannot drift from what the server
validates."""

from __future__ import annotations

import inspect
import re
from typing import Any

from aiohttp import web

from crowd import __version__
from crowd.api.http import reply
from crowd.api.spec import Operation, Param, operation_of

routes = web.RouteTableDef()

_PATH_PARAM = re.compile(r"{(\w+)}")
_SCHEMA_REF = "#/components/schemas/{model}"
DOCUMENT: web.AppKey[dict[str, Any]] = web.AppKey("openapi", dict)

_ROLES = {
    "platform": "a platform key (crowd_pk_…)",
    "operator": "an operator key (crowd_ok_…)",
    "reviewer": "a reviewer key",
    "worker": "a worker token",
}

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details; clients branch on `type`.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI document of this server (public: it holds no data)."""
    return reply(request.app[DOCUMENT])


def document(app: web.Application) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Problem": PROBLEM}
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        operation = operation_of(route.handler)
        if operation is None or route.resource is None or route.method == "HEAD":
            continue  # probes, pages and static files are not the API
        path = route.resource.canonical
        paths.setdefault(path, {})[route.method.lower()] = _operation(route.handler, path, operation, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "crowd",
            "version": __version__,
            "description": "Crowdsourcing task distribution: projects, batches, overlap assignment under "
            "leases, gold, Dawid-Skene consensus, pay. Every error is problem+json.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _operation(handler: Any, path: str, operation: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    fallback = handler.__name__.replace("_", " ").capitalize()
    first, _, description = (inspect.getdoc(handler) or fallback).partition("\n\n")
    summary = " ".join(first.split())
    callers = ", or ".join(_ROLES[role] for role in operation.roles)
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 100}}
        for name in _PATH_PARAM.findall(path)
    ]
    parameters += [_parameter(p, "query") for p in operation.query]
    parameters += [_parameter(p, "header") for p in operation.headers]
    result: dict[str, Any] = {
        "operationId": handler.__name__,
        "summary": summary,
        "description": f"{description.strip()}\n\nCalled with {callers}.".strip(),
        "x-crowd-roles": list(operation.roles),
        "parameters": parameters,
        "responses": {
            **{str(status): _success(status, operation.media) for status in operation.statuses},
            "default": {
                "description": "An error",
                "content": {"application/problem+json": {"schema": {"$ref": _SCHEMA_REF.format(model="Problem")}}},
            },
        },
    }
    if operation.body is not None:
        schema = operation.body.model_json_schema(ref_template=_SCHEMA_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[operation.body.__name__] = schema
        ref = {"$ref": _SCHEMA_REF.format(model=operation.body.__name__)}
        result["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref}}}
    return result


def _parameter(param: Param, where: str) -> dict[str, Any]:
    described = {"description": param.description} if param.description else {}
    return {"name": param.name, "in": where, "required": False, "schema": param.schema, **described}


def _success(status: int, media: tuple[str, ...]) -> dict[str, Any]:
    if status == 204:
        return {"description": "Nothing to return"}
    return {"description": "Success", "content": {kind: {"schema": {}} for kind in media}}
