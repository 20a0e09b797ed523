"""Projects and batches as the rest of the code sees them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from crowd.ids import BatchId, OrganizationId, ProjectId


@dataclass(frozen=True, slots=True)
class Project:
    id: ProjectId
    organization_id: OrganizationId
    name: str
    instructions: str
    labels: list[str]
    status: str
    priority: int
    min_overlap: int
    max_overlap: int
    confidence_target: float
    evidence_half: int
    lease_seconds: int
    gold_rate: float
    onboarding_tasks: int
    onboarding_gold_rate: float
    min_gold_answers: int
    min_accuracy: float
    gold_feedback: bool
    reward: int
    bonus: int
    currency: str
    budget: int | None
    review_seconds: int
    review_threshold: float
    min_seconds: float
    min_human_answers: int
    show_predictions: bool
    routing: str
    min_reliability: float
    recollect_blocked: bool
    reject_blocked: bool
    fast_policy: str
    fast_limit: int
    fast_window: int
    drift_threshold: float
    created_at: datetime
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.status == "active"


PROJECT_FIELDS = tuple(f.name for f in fields(Project))


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    """A project as its platform and operators see it: its row, and the
    groups (by name) a worker must all be in to be served it. (The claim
    reads the requirement in SQL, never from here.)"""

    project: Project
    required_groups: list[str]


@dataclass(frozen=True, slots=True)
class Batch:
    id: BatchId
    project_id: ProjectId
    external_id: str | None
    idempotency_key: str | None
    request_hash: str
    task_count: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class BatchProgress:
    batch: Batch
    completed: int
    answers: int

    @property
    def status(self) -> str:
        return "completed" if self.completed >= self.batch.task_count else "open"


@dataclass(frozen=True, slots=True)
class NewTask:
    """A validated task row of a batch, ready to insert."""

    external_id: str
    data: dict[str, Any]
    priority: int
    target: int | None = None
    """Human answers it asks for at first (None: the project's min_overlap)."""


@dataclass(frozen=True, slots=True)
class ProjectProgress:
    tasks: int
    completed: int
    answers: int
