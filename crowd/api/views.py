"""How domain objects look on the wire."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from crowd.api import markdown
from crowd.api.http import iso
from crowd.assignment.answering import Receipt
from crowd.assignment.service import Lease, OpenProject
from crowd.identity.models import ApiKey, Worker
from crowd.inference.store import ProjectStanding
from crowd.projects.models import PROJECT_FIELDS, Batch, BatchProgress, Project, ProjectProgress, ProjectRecord
from crowd.results.store import AnswerRow, TaskResult
from crowd.workforce.models import Group
from crowd.workforce.service import Member

_HIDDEN_PROJECT_FIELDS = {"organization_id", "created_at", "updated_at"}


def project(p: Project) -> dict[str, Any]:
    body = {name: getattr(p, name) for name in PROJECT_FIELDS if name not in _HIDDEN_PROJECT_FIELDS}
    body.update(created_at=iso(p.created_at), updated_at=iso(p.updated_at))
    return body


def project_record(r: ProjectRecord) -> dict[str, Any]:
    return {**project(r.project), "required_groups": r.required_groups}


def batch(b: Batch) -> dict[str, Any]:
    return {
        "id": b.id,
        "project_id": b.project_id,
        "external_id": b.external_id,
        "task_count": b.task_count,
        "created_at": iso(b.created_at),
    }


def batch_progress(progress: BatchProgress) -> dict[str, Any]:
    return {
        **batch(progress.batch),
        "completed": progress.completed,
        "answers": progress.answers,
        "status": progress.status,
    }


def lease(granted: Lease) -> dict[str, Any]:
    """What a worker sees of a task: never its id, never whether it is gold."""
    body = {
        "assignment_id": granted.offer.public_id,
        "expires_at": iso(granted.offer.expires_at),
        "data": granted.offer.data,
        "project": worker_project(granted.project),
    }
    if granted.offer.suggestion is not None:  # the project shows model predictions
        body["suggestion"] = {"label": granted.offer.suggestion}
    return body


def worker_project(p: Project) -> dict[str, Any]:
    """A project as workers see it: instructions as given and as safe HTML."""
    return {
        "id": p.id,
        "name": p.name,
        "instructions": p.instructions,
        "instructions_html": markdown.render(p.instructions),
        "labels": p.labels,
        "reward": p.reward,
        "currency": p.currency,
        "lease_seconds": p.lease_seconds,
    }


def open_project(o: OpenProject) -> dict[str, Any]:
    return {**worker_project(o.project), "open_tasks": o.open_tasks}


def project_progress(r: ProjectRecord, progress: ProjectProgress) -> dict[str, Any]:
    return {**project_record(r), "progress": asdict(progress)}


def standing(s: ProjectStanding) -> dict[str, Any]:
    reliability = None if s.reliability is None else round(s.reliability, 3)
    return {
        "project_id": s.project_id,
        "name": s.name,
        "answers": s.answers,
        "blocked": s.blocked,
        "reliability": reliability,
    }


def receipt(r: Receipt) -> dict[str, Any]:
    body: dict[str, Any] = {"status": r.status, "assignment_id": r.public_id}
    if r.label is not None:
        body["label"] = r.label
    body["at"] = iso(r.at)
    if r.feedback is not None:
        body["feedback"] = r.feedback
    return body


def task_result(r: TaskResult) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": r.external_id,
        "status": r.status,
        "label": r.label,
        "confidence": r.confidence,
        "posterior": r.posterior,
        "answers": r.answers,
    }
    if r.status == "completed":
        body["decided_by"] = "expert" if r.expert else "consensus"
    if r.votes is not None:
        body["votes"] = [{"worker": a.worker, "label": a.label, "created_at": iso(a.created_at)} for a in r.votes]
    return body


def answer_row(a: AnswerRow) -> dict[str, Any]:
    return {"task": a.task, "worker": a.worker, "label": a.label, "created_at": iso(a.created_at)}


def worker(w: Worker) -> dict[str, Any]:
    return {"id": w.id, "name": w.name, "blocked": w.blocked, "created_at": iso(w.created_at)}


def api_key(k: ApiKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "name": k.name,
        "role": k.role.value,
        "organization_id": k.organization_id,
        "created_at": iso(k.created_at),
        "revoked_at": iso(k.revoked_at),
    }


def member(m: Member) -> dict[str, Any]:
    """A worker as its operators see it."""
    return {
        **worker(m.worker),
        "active": m.worker.active,
        "deactivated_at": iso(m.worker.deactivated_at),
        "groups": m.groups,
    }


def group(g: Group) -> dict[str, Any]:
    return {"id": g.id, "name": g.name, "workers": g.workers, "created_at": iso(g.created_at)}
