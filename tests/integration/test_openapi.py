"""The OpenAPI document the server serves describes all of its API."""

from __future__ import annotations

from aiohttp import web

from tests.support.crowd import Crowd


async def test_the_document_describes_every_api_route(crowd: Crowd) -> None:
    document = await crowd.ok("GET", "/api/openapi.json")  # public, like the probes
    assert document["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    app: web.Application = crowd.client.server.app  # type: ignore[assignment]
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/api/v1/") and route.method != "HEAD"
    }
    assert documented == served
    operations = [op for ops in document["paths"].values() for op in ops.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    schemas = document["components"]["schemas"]
    for op in operations:
        assert op["summary"]
        assert set(op["x-crowd-roles"]) <= {"platform", "operator", "reviewer", "worker"}
        if "requestBody" in op:
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.removeprefix("#/components/schemas/") in schemas


async def test_a_body_schema_is_the_model_the_server_validates(crowd: Crowd) -> None:
    document = await crowd.ok("GET", "/api/openapi.json")
    create = document["components"]["schemas"]["ProjectCreate"]
    assert set(create["required"]) == {"name", "labels"}
    assert create["additionalProperties"] is False
    labels = create["properties"]["labels"]
    assert (labels["minItems"], labels["uniqueItems"]) == (2, True)
    reply = await crowd.call("POST", "/api/v1/projects", crowd.platform, {"name": "x", "labels": ["a"]})
    assert reply.status == 422  # what the schema says is refused, is


async def test_a_wrong_method_is_405_with_allow(crowd: Crowd) -> None:
    reply = await crowd.call("DELETE", "/api/v1/projects", crowd.platform)
    assert reply.status == 405
    assert reply.body["type"] == "method-not-allowed"
    assert set(reply.headers["Allow"].split(",")) >= {"GET", "POST"}
