"""Label Studio interop: import an export as a batch, export results as
Label Studio tasks with annotations and scored predictions."""

from __future__ import annotations

import hashlib
import json

from aiohttp import web

from crowd.api.auth import api_key
from crowd.api.bodies import parse
from crowd.api.http import reply
from crowd.api.keys import BROKER, CLOCK, DATABASE
from crowd.api.models import LabelStudioImportIn
from crowd.api.rows import as_batch, idempotency_key
from crowd.api.spec import documented
from crowd.api.views import batch as batch_view
from crowd.api.web import SECURITY_HEADERS
from crowd.errors import ValidationFailed
from crowd.identity.tokens import Role
from crowd.interop.label_studio import Choices, LabelStudioError, as_task, choices_of, tasks_of
from crowd.projects import service as projects
from crowd.projects.models import Project
from crowd.projects.service import BatchSubmission, TaskRow
from crowd.results import service as results
from crowd.results import store as results_store

routes = web.RouteTableDef()


@routes.post("/api/v1/projects/{project_id}/label-studio/import")
@documented("platform", "operator", body=LabelStudioImportIn, statuses=(201, 200), limit="bulk")
async def import_tasks(request: web.Request) -> web.Response:
    """A Label Studio task export as one batch. With ``label_config``, its
    ``<Choices>`` must be the project's labels."""
    key = await api_key(request, Role.PLATFORM, Role.OPERATOR)
    body = await parse(request, LabelStudioImportIn)
    app = request.app
    project = await projects.get_project(app[DATABASE], key.organization_id, request.match_info["project_id"])
    try:
        imported = tasks_of(body.tasks)
        if body.label_config is not None:
            _check_labels(project, choices_of(body.label_config))
    except LabelStudioError as exc:
        raise ValidationFailed(str(exc), errors=[{"loc": ["tasks"], "msg": str(exc)}]) from exc
    checked = as_batch(body.external_id, [{"external_id": t.external_id, "data": t.data} for t in imported])
    canonical = json.dumps([[t.external_id, t.data] for t in checked.tasks], sort_keys=True, separators=(",", ":"))
    submission = BatchSubmission(
        external_id=checked.external_id,
        idempotency_key=idempotency_key(request),
        request_hash=hashlib.sha256(canonical.encode()).hexdigest(),
        tasks=[TaskRow(t.external_id, t.data, 0) for t in checked.tasks],
    )
    batch, created = await projects.submit_batch(
        app[DATABASE], app[CLOCK], app[BROKER], key.organization_id, project.id, submission
    )
    return reply(batch_view(batch), status=201 if created else 200)


def _check_labels(project: Project, choices: Choices) -> None:
    if set(choices.labels) != set(project.labels):
        detail = f"the config's choices {choices.labels} are not the project's labels {project.labels}"
        raise LabelStudioError(detail)


async def export(request: web.Request, project: Project, status: str | None) -> web.StreamResponse:
    """Every result as a JSON list of Label Studio tasks, streamed.
    ``from_name`` / ``to_name`` name the config's Choices control and the
    object it labels (default ``label`` and ``text``)."""
    choices = Choices(request.query.get("from_name", "label"), request.query.get("to_name", "text"), project.labels)
    page_query = results.for_project(project.id, results_store.task_results, status=status, include=frozenset({"data"}))
    results.decode_cursor(request.query.get("cursor"))  # a bad cursor is a 400 before the stream starts
    response = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8", **SECURITY_HEADERS})
    await response.prepare(request)
    first = True
    async for r in results.stream(request.app[DATABASE], page_query, request.query.get("cursor")):
        item = as_task(choices, r.external_id, r.data or {}, r.status, r.label, r.confidence, r.posterior)
        await response.write((b"[" if first else b",") + json.dumps(item, separators=(",", ":")).encode())
        first = False
    await response.write(b"[]" if first else b"]")
    await response.write_eof()
    return response
