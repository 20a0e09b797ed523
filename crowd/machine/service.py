"""Use cases of machine predictions: take them in (at submit time or in
bulk), let them shorten dynamic overlap, suggest them to workers when the
project wants it, and evaluate each model."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncConnection

from crowd.assignment import completion
from crowd.assignment.signals import announce_work
from crowd.broker import Broker
from crowd.clock import Clock
from crowd.consensus.evaluation import evaluate
from crowd.db.engine import Database
from crowd.errors import ValidationFailed
from crowd.ids import AssignmentId, OrganizationId, TaskId
from crowd.inference import service as inference
from crowd.machine import store
from crowd.machine.policy import initial_target, saved_answers
from crowd.projects.access import require_project
from crowd.projects.models import Project


@dataclass(frozen=True, slots=True)
class Prediction:
    external_id: str
    model: str
    label: str
    score: float | None


async def add_predictions(
    conn: AsyncConnection, project: Project, found: dict[str, store.Target], items: list[Prediction], now: datetime
) -> bool:
    """Store predictions and let them count: each open task's target drops
    to what its models leave for humans, and a task whose answers now cover
    its target is decided at once. True if some task wants more workers."""
    await store.upsert_predictions(
        conn,
        [
            {
                "project_id": project.id,
                "task_id": found[p.external_id].id,
                "model": p.model,
                "label": p.label,
                "score": p.score,
                "created_at": now,
            }
            for p in items
        ],
    )
    refreshed = await store.tasks_by_external(conn, project.id, sorted({p.external_id for p in items}))
    wants_workers = False
    for task in refreshed.values():
        if task.status == "open" and not task.is_gold:  # gold has no overlap to shorten: only suggested
            wants_workers |= await _settle(conn, project, task, now)
    return wants_workers


async def _settle(conn: AsyncConnection, project: Project, task: store.Target, now: datetime) -> bool:
    floor = task.answer_count + task.lease_count
    target = max(initial_target(project.min_overlap, project.min_human_answers, task.models), floor)
    if target < task.target_overlap:
        await store.set_target(conn, task.id, target)
    else:
        target = task.target_overlap
    if task.answer_count < target:
        return False
    settled = await inference.on_answer(conn, project, task.id, task.answer_count, target, now)
    if settled.completed is not None:
        await completion.task_completed(conn, project, task.id, settled.completed, now)
    return settled.raised


async def submit(
    db: Database,
    clock: Clock,
    broker: Broker,
    organization_id: OrganizationId,
    project_id: str,
    items: list[Prediction],
) -> int:
    """Predictions in bulk by external id, all or nothing."""
    async with db.transaction() as conn:
        project = await require_project(conn, organization_id, project_id)
        found = await store.tasks_by_external(conn, project.id, sorted({p.external_id for p in items}))
        errors = _errors(project, items, found)
        if errors:
            raise ValidationFailed(f"{len(errors)} prediction(s) are invalid; nothing was stored", errors=errors)
        wants_workers = await add_predictions(conn, project, found, items, clock.now())
    if wants_workers:
        await announce_work(broker, project.organization_id, project.id)
    return len(items)


def _errors(project: Project, items: list[Prediction], found: dict[str, store.Target]) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    for i, p in enumerate(items):
        if p.external_id not in found:
            errors.append({"row": i, "field": "external_id", "reason": "no task with this external_id"})
        if p.label not in project.labels:
            errors.append({"row": i, "field": "label", "reason": f"{p.label!r} is not one of {project.labels}"})
        if (p.external_id, p.model) in seen:
            errors.append({"row": i, "field": "model", "reason": f"repeats row {seen[(p.external_id, p.model)]}"})
        seen.setdefault((p.external_id, p.model), i)
    return errors


async def suggest(conn: AsyncConnection, project: Project, task_id: TaskId, public_id: AssignmentId) -> str | None:
    """With ``show_predictions``, the prediction to show with a new lease
    (remembered on the assignment, to measure the bias it causes)."""
    if not project.show_predictions:
        return None
    top = await store.top_prediction(conn, task_id)
    if top is None:
        return None
    await store.show_suggestion(conn, public_id, top[0])
    return top[0]


async def evaluation(db: Database, organization_id: OrganizationId, project_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        project = await require_project(conn, organization_id, project_id)
        facts = await store.prediction_facts(conn, project.id)
        suggested = await store.suggestion_answers(conn, project.id)
    models = await asyncio.to_thread(_evaluate_models, project, facts)
    return {"labels": project.labels, "models": models, "suggestions": _bias(project, suggested)}


def _evaluate_models(project: Project, facts: list[store.PredictionFact]) -> list[dict[str, Any]]:
    per_task: dict[int, int] = defaultdict(int)
    for fact in facts:
        per_task[fact.task_id] += 1
    by_model: dict[str, list[store.PredictionFact]] = defaultdict(list)
    for fact in facts:
        by_model[fact.model].append(fact)
    return [_model_report(project, name, rows, per_task) for name, rows in sorted(by_model.items())]


def _model_report(
    project: Project, model: str, rows: list[store.PredictionFact], per_task: dict[int, int]
) -> dict[str, Any]:
    index = {label: k for k, label in enumerate(project.labels)}
    references: dict[str, list[tuple[store.PredictionFact, str | None]]] = {
        "gold": [(r, r.gold_label) for r in rows if r.is_gold],
        "expert": [(r, r.expert_label) for r in rows if r.expert_label is not None],
        "consensus": [(r, r.consensus) for r in rows if not r.is_gold and r.status == "completed" and r.consensus],
    }
    report: dict[str, Any] = {"model": model, "predictions": len(rows)}
    for name, pairs in references.items():
        report[f"against_{name}"] = _against(index, pairs) if pairs else None
    completed = [r for r in rows if not r.is_gold and r.status == "completed"]
    saved = sum(saved_answers(project.min_overlap, r.human_answers, per_task[r.task_id]) for r in completed)
    report["human_answers_saved"] = round(saved, 2)
    return report


def _against(index: dict[str, int], pairs: list[tuple[store.PredictionFact, str | None]]) -> dict[str, Any]:
    predicted = np.array([index[r.label] for r, _ in pairs], dtype=np.intp)
    reference = np.array([index[str(ref)] for _, ref in pairs], dtype=np.intp)
    scored = all(r.score is not None for r, _ in pairs)
    scores = np.array([r.score for r, _ in pairs], dtype=np.float64) if scored else None
    result = evaluate(predicted, reference, scores, n_classes=len(index))
    labels = list(index)
    body: dict[str, Any] = {
        "n": result.accuracy.n,
        "accuracy": _round(result.accuracy.estimate),
        "interval": [_round(result.accuracy.low), _round(result.accuracy.high)],
        "precision": dict(zip(labels, map(_round, result.classes.precision), strict=True)),
        "recall": dict(zip(labels, map(_round, result.classes.recall), strict=True)),
        "confusion": result.confusion.tolist(),
    }
    if result.calibration is not None:
        c = result.calibration
        body["calibration"] = {
            "ece": _round(c.ece),
            "bins": [
                {
                    "low": _round(lo),
                    "high": _round(hi),
                    "confidence": _round(conf),
                    "accuracy": _round(acc),
                    "count": int(n),
                }
                for lo, hi, conf, acc, n in zip(
                    c.edges[:-1], c.edges[1:], c.confidence, c.accuracy, c.count, strict=True
                )
            ],
        }
    return body


def _bias(project: Project, rows: list[tuple[str, str, str | None]]) -> dict[str, Any] | None:
    """How shown suggestions sway answers: agreement with the suggestion
    against agreement with the final label, over answers given with one."""
    if not rows:
        return None
    final = [(s, a, f) for s, a, f in rows if f is not None]
    return {
        "shown": project.show_predictions,
        "answers": len(rows),
        "agreed_with_suggestion": _round(sum(a == s for s, a, _ in rows) / len(rows)),
        "agreed_with_final_label": _round(sum(a == f for _, a, f in final) / len(final)) if final else None,
        "suggestion_was_final_label": _round(sum(s == f for s, _, f in final) / len(final)) if final else None,
    }


def _round(value: float) -> float | None:
    return None if value != value else round(float(value), 6)  # NaN -> None
