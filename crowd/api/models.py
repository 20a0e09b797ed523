"""Request bodies, validated at the edge. pydantic stays here: services get
plain values."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MAX_EXTERNAL_ID = 200
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_EXTERNAL_ID)]
Share = Annotated[float, Field(ge=0, le=1)]

MAX_TASKS_PER_BATCH = 10_000
MAX_REQUIRED_GROUPS = 20


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ProjectSettings(Body):
    """Every setting a platform or operator may change, all optional."""

    name: Name | None = None
    instructions: Annotated[str, Field(max_length=100_000)] | None = None
    labels: (
        Annotated[list[Label], Field(min_length=2, max_length=100, json_schema_extra={"uniqueItems": True})] | None
    ) = None
    priority: Annotated[int, Field(ge=-1_000_000, le=1_000_000)] | None = None
    min_overlap: Annotated[int, Field(ge=1, le=100)] | None = None
    max_overlap: Annotated[int, Field(ge=1, le=100)] | None = None
    confidence_target: Annotated[float, Field(gt=0, le=1)] | None = None
    evidence_half: Annotated[int, Field(ge=0, le=10_000)] | None = None
    lease_seconds: Annotated[int, Field(ge=1, le=7 * 24 * 3600)] | None = None
    gold_rate: Share | None = None
    onboarding_tasks: Annotated[int, Field(ge=0, le=10_000)] | None = None
    onboarding_gold_rate: Share | None = None
    min_gold_answers: Annotated[int, Field(ge=1, le=10_000)] | None = None
    min_accuracy: Share | None = None
    gold_feedback: bool | None = None
    reward: Annotated[int, Field(ge=0, le=10**9)] | None = None
    bonus: Annotated[int, Field(ge=0, le=10**9)] | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    budget: Annotated[int, Field(ge=0, le=10**15)] | None = None
    review_seconds: Annotated[int, Field(ge=0, le=365 * 24 * 3600)] | None = None
    review_threshold: Share | None = None
    min_seconds: Annotated[float, Field(ge=0, le=3600)] | None = None
    min_human_answers: Annotated[int, Field(ge=0, le=100)] | None = None
    show_predictions: bool | None = None
    routing: Literal["depth_first", "uncertainty"] | None = None
    min_reliability: Share | None = None
    recollect_blocked: bool | None = None
    reject_blocked: bool | None = None
    fast_policy: Literal["flag", "exclude", "block"] | None = None
    fast_limit: Annotated[int, Field(ge=1, le=1000)] | None = None
    fast_window: Annotated[int, Field(ge=1, le=1000)] | None = None
    drift_threshold: Annotated[float, Field(gt=0, le=1)] | None = None
    # names of the organization's groups a worker must all be in to be
    # served the project ([]: none; PATCH replaces the list)
    required_groups: (
        Annotated[list[Name], Field(max_length=MAX_REQUIRED_GROUPS, json_schema_extra={"uniqueItems": True})] | None
    ) = None

    @model_validator(mode="after")
    def _unique_labels(self) -> Self:
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be unique")
        if self.required_groups is not None and len(set(self.required_groups)) != len(self.required_groups):
            raise ValueError("required_groups must be unique")
        return self

    def given(self) -> dict[str, Any]:
        """The settings present in the request (``budget: null`` included)."""
        return self.model_dump(exclude_unset=True)


class ProjectCreate(ProjectSettings):
    name: Name
    labels: Annotated[list[Label], Field(min_length=2, max_length=100, json_schema_extra={"uniqueItems": True})]

    def values(self) -> dict[str, Any]:
        """Every setting, defaults filled in (a null asks for the default)."""
        given = {name: value for name, value in self.given().items() if value is not None or name in NULLABLE}
        values = {**PROJECT_DEFAULTS, **given}
        if values.get("max_overlap") is None:  # fixed overlap unless asked
            values["max_overlap"] = values["min_overlap"]
        return values


class ProjectPatch(ProjectSettings):
    status: Literal["active", "paused"] | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        for name, value in self.given().items():
            if value is None and name not in NULLABLE:
                raise ValueError(f"{name} cannot be null")
        return self


#: The settings whose null means something: no budget.
NULLABLE = frozenset({"budget"})

#: The settings a new project gets unless the request says otherwise.
PROJECT_DEFAULTS: dict[str, Any] = {
    "instructions": "",
    "priority": 0,
    "min_overlap": 3,
    "confidence_target": 0.9,
    "evidence_half": 0,
    "lease_seconds": 600,
    "gold_rate": 0.1,
    "onboarding_tasks": 10,
    "onboarding_gold_rate": 0.3,
    "min_gold_answers": 5,
    "min_accuracy": 0.6,
    "gold_feedback": False,
    "reward": 0,
    "bonus": 0,
    "currency": "USD",
    "budget": None,
    "review_seconds": 3 * 24 * 3600,
    "review_threshold": 0.0,
    "min_seconds": 0.0,
    "min_human_answers": 1,
    "show_predictions": False,
    "routing": "depth_first",
    "min_reliability": 0.0,
    "recollect_blocked": False,
    "reject_blocked": False,
    "fast_policy": "flag",
    "fast_limit": 5,
    "fast_window": 20,
    "drift_threshold": 0.2,
}


ModelName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Score = Annotated[float, Field(ge=0, le=1)]


class PredictionIn(Body):
    model: ModelName
    label: Label
    score: Score | None = None


class TaskIn(Body):
    external_id: ExternalId | None = None
    data: dict[str, Any]
    priority: Annotated[int, Field(ge=-1_000_000, le=1_000_000)] = 0
    predictions: Annotated[list[PredictionIn], Field(max_length=50)] = []


class BatchIn(Body):
    ROWS: ClassVar[str] = "tasks"  # many rows: crowd.api.bodies validates them in slices
    external_id: ExternalId | None = None
    tasks: Annotated[list[TaskIn], Field(min_length=1, max_length=MAX_TASKS_PER_BATCH)]


class GoldTaskIn(Body):
    external_id: ExternalId
    data: dict[str, Any]
    label: Label
    explanation: Annotated[str, Field(max_length=10_000)] | None = None
    predictions: Annotated[list[PredictionIn], Field(max_length=50)] = []
    """What a model says of this task, sent as for a real task: with ``show_predictions`` a
    gold task shows its suggestion as a real task does (and never the gold label instead)."""


class GoldIn(Body):
    ROWS: ClassVar[str] = "tasks"
    tasks: Annotated[list[GoldTaskIn], Field(min_length=1, max_length=MAX_TASKS_PER_BATCH)]


class PayoutIn(Body):
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    minimum: Annotated[int, Field(ge=0, le=10**15)] = 0


class WebhookIn(Body):
    url: Annotated[str, StringConstraints(min_length=8, max_length=2000)]
    events: Annotated[list[Annotated[str, StringConstraints(max_length=40)]], Field(min_length=1, max_length=10)]
    secret: Annotated[str, StringConstraints(min_length=16, max_length=200)] | None = None


class LabelStudioImportIn(Body):
    tasks: Annotated[list[Any], Field(min_length=1, max_length=MAX_TASKS_PER_BATCH)]
    label_config: Annotated[str, Field(max_length=100_000)] | None = None
    external_id: ExternalId | None = None


class ReportIn(Body):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class ReviewSendIn(Body):
    tasks: Annotated[list[ExternalId], Field(min_length=1, max_length=1000)]


class DecisionIn(Body):
    label: Label
    promote_to_gold: bool = False
    explanation: Annotated[str, Field(max_length=10_000)] | None = None


class PredictionRowIn(Body):
    external_id: ExternalId
    model: ModelName
    label: Label
    score: Score | None = None


class PredictionsIn(Body):
    ROWS: ClassVar[str] = "predictions"
    predictions: Annotated[list[PredictionRowIn], Field(min_length=1, max_length=MAX_TASKS_PER_BATCH)]


class AnswerIn(Body):
    label: Label


class WorkerIn(Body):
    name: Name


class GroupIn(Body):
    name: Name
