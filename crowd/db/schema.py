"""The tables: the one source of truth for the Alembic migrations.

Every invariant a constraint can hold is held by one here, so a bug in the
code fails loudly instead of double-assigning or double-counting:

- ``assignments (worker_id, task_id)`` unique: a worker never gets a task twice
  (invariant 2), and the index makes the "never given to this worker" probe of
  the claim an index lookup instead of a scan.
- ``answers.assignment_id`` unique: one answer per assignment (invariant 3).
- ``tasks``: ``answer_count + lease_count <= target_overlap`` (invariant 1).
- one live lease per worker and project (partial unique index).
- a group's members and a project's required groups are of the group's own
  organization (composite foreign keys on ``(id, organization_id)``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from crowd.db.types import BigId, Json, UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = 32  # length of the prefixed random ids ("prj_…", "wrk_…")
NAME = 200
LABEL = 200

organizations = Table(
    "organizations",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(NAME), nullable=False, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("organization_id", String(ID), ForeignKey("organizations.id"), nullable=False),
    Column("name", String(NAME), nullable=False),
    Column("role", String(16), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    CheckConstraint("role IN ('platform', 'operator', 'reviewer')", name="role"),
)

# A worker belongs to exactly one organization, the one whose operator made
# it; that organization's projects are the only ones it is served. A
# deactivated worker's token is refused like a revoked key.
workers = Table(
    "workers",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("organization_id", String(ID), ForeignKey("organizations.id"), nullable=False),
    Column("name", String(NAME), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("deactivated_at", UtcDateTime(), nullable=True),
    CheckConstraint("status IN ('active', 'blocked')", name="status"),
    # the target of the tenant-checking foreign keys of group membership
    UniqueConstraint("id", "organization_id"),
    Index("ix_workers_organization_id_id", "organization_id", "id"),
)

projects = Table(
    "projects",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("organization_id", String(ID), ForeignKey("organizations.id"), nullable=False, index=True),
    Column("name", String(NAME), nullable=False),
    Column("instructions", Text(), nullable=False),
    Column("labels", Json, nullable=False),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("priority", Integer(), nullable=False, server_default="0"),
    # overlap and leases
    Column("min_overlap", Integer(), nullable=False),
    Column("max_overlap", Integer(), nullable=False),
    Column("confidence_target", Float(), nullable=False),
    Column("evidence_half", Integer(), nullable=False, server_default="0"),
    Column("lease_seconds", Integer(), nullable=False),
    # gold
    Column("gold_rate", Float(), nullable=False),
    Column("onboarding_tasks", Integer(), nullable=False),
    Column("onboarding_gold_rate", Float(), nullable=False),
    Column("min_gold_answers", Integer(), nullable=False),
    Column("min_accuracy", Float(), nullable=False),
    Column("gold_feedback", Boolean(), nullable=False),
    # pay, in integer minor units of ``currency``
    Column("reward", Integer(), nullable=False),
    Column("bonus", Integer(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("budget", Integer(), nullable=True),
    Column("review_seconds", Integer(), nullable=False),
    # quality and routing
    Column("review_threshold", Float(), nullable=False),
    Column("min_seconds", Float(), nullable=False),
    Column("min_human_answers", Integer(), nullable=False),
    Column("show_predictions", Boolean(), nullable=False),
    Column("routing", String(16), nullable=False),
    Column("min_reliability", Float(), nullable=False),
    Column("recollect_blocked", Boolean(), nullable=False, server_default="0"),
    Column("reject_blocked", Boolean(), nullable=False, server_default="0"),
    Column("fast_policy", String(16), nullable=False, server_default="flag"),
    Column("fast_limit", Integer(), nullable=False, server_default="5"),
    Column("fast_window", Integer(), nullable=False, server_default="20"),
    Column("drift_threshold", Float(), nullable=False, server_default="0.2"),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    CheckConstraint("status IN ('active', 'paused')", name="status"),
    CheckConstraint("min_overlap >= 1 AND max_overlap >= min_overlap", name="overlap"),
    CheckConstraint("confidence_target > 0 AND confidence_target <= 1", name="confidence_target"),
    CheckConstraint("lease_seconds >= 1", name="lease_seconds"),
    CheckConstraint("gold_rate >= 0 AND gold_rate <= 1", name="gold_rate"),
    CheckConstraint("reward >= 0 AND bonus >= 0 AND (budget IS NULL OR budget >= 0)", name="money"),
    CheckConstraint("routing IN ('depth_first', 'uncertainty')", name="routing"),
    CheckConstraint("fast_policy IN ('flag', 'exclude', 'block')", name="fast_policy"),
    # the target of the tenant-checking foreign key of required groups
    UniqueConstraint("id", "organization_id"),
)

# Groups (qualifications): named sets of one organization's workers. A
# project may require groups; a worker outside any of them is not served it.
# Membership and requirements carry the organization, and composite foreign
# keys tie it to both sides, so the schema itself refuses a group holding
# another organization's worker or a project requiring another's group.
worker_groups = Table(
    "worker_groups",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("organization_id", String(ID), ForeignKey("organizations.id"), nullable=False),
    Column("name", String(NAME), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("organization_id", "name"),
    UniqueConstraint("id", "organization_id"),
)

worker_group_members = Table(
    "worker_group_members",
    metadata,
    Column("group_id", String(ID), primary_key=True),
    Column("worker_id", String(ID), primary_key=True),
    Column("organization_id", String(ID), nullable=False),
    Column("added_at", UtcDateTime(), nullable=False),
    ForeignKeyConstraint(["group_id", "organization_id"], ["worker_groups.id", "worker_groups.organization_id"]),
    ForeignKeyConstraint(["worker_id", "organization_id"], ["workers.id", "workers.organization_id"]),
    Index("ix_worker_group_members_worker_id", "worker_id"),
)

project_required_groups = Table(
    "project_required_groups",
    metadata,
    Column("project_id", String(ID), primary_key=True),
    Column("group_id", String(ID), primary_key=True),
    Column("organization_id", String(ID), nullable=False),
    ForeignKeyConstraint(["project_id", "organization_id"], ["projects.id", "projects.organization_id"]),
    ForeignKeyConstraint(["group_id", "organization_id"], ["worker_groups.id", "worker_groups.organization_id"]),
    Index("ix_project_required_groups_group_id", "group_id"),
)

batches = Table(
    "batches",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("project_id", String(ID), ForeignKey("projects.id"), nullable=False),
    Column("external_id", String(NAME), nullable=True),
    Column("idempotency_key", String(NAME), nullable=True),
    Column("request_hash", String(64), nullable=False),
    Column("task_count", Integer(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("project_id", "external_id"),
    UniqueConstraint("project_id", "idempotency_key"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", String(ID), ForeignKey("projects.id"), nullable=False),
    Column("batch_id", String(ID), ForeignKey("batches.id"), nullable=True),
    Column("external_id", String(NAME), nullable=False),
    Column("data", Json, nullable=False),
    Column("priority", Integer(), nullable=False, server_default="0"),
    Column("is_gold", Boolean(), nullable=False, server_default="0"),
    Column("gold_label", String(LABEL), nullable=True),
    Column("gold_explanation", Text(), nullable=True),
    Column("status", String(16), nullable=False, server_default="open"),
    Column("target_overlap", Integer(), nullable=False),
    Column("answer_count", Integer(), nullable=False, server_default="0"),
    Column("lease_count", Integer(), nullable=False, server_default="0"),
    Column("label", String(LABEL), nullable=True),
    Column("confidence", Float(), nullable=True),
    Column("posterior", Json, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("completed_at", UtcDateTime(), nullable=True),
    # review: tasks a low confidence, a worker's report or an operator sent
    # to an expert; an expert label overrides consensus and is clamped truth
    Column("review_status", String(16), nullable=True),
    Column("review_reason", String(16), nullable=True),
    Column("expert_label", String(LABEL), nullable=True),
    Column("decided_by", String(ID), nullable=True),
    UniqueConstraint("project_id", "external_id"),
    CheckConstraint("status IN ('open', 'completed')", name="status"),
    CheckConstraint("review_status IS NULL OR review_status IN ('pending', 'decided')", name="review_status"),
    CheckConstraint("answer_count >= 0 AND lease_count >= 0", name="counts"),
    CheckConstraint("answer_count + lease_count <= target_overlap", name="overlap"),
    CheckConstraint("(gold_label IS NOT NULL) = is_gold", name="gold_label"),
    # The claim walks this index in order and stops at the first task it may
    # take: open real tasks of one project, by priority, then most answered
    # (closest to completion, so batches finish), then oldest.
    Index(
        "ix_tasks_claim",
        "project_id",
        text("priority DESC"),
        text("answer_count DESC"),
        "id",
        postgresql_where=text("status = 'open' AND NOT is_gold"),
        sqlite_where=text("status = 'open' AND NOT is_gold"),
    ),
    # Gold tasks are drawn at random among those a worker has not seen.
    Index(
        "ix_tasks_gold",
        "project_id",
        postgresql_where=text("is_gold"),
        sqlite_where=text("is_gold"),
    ),
    Index(
        "ix_tasks_review",
        "project_id",
        "id",
        postgresql_where=text("review_status = 'pending'"),
        sqlite_where=text("review_status = 'pending'"),
    ),
    Index("ix_tasks_batch_id_status", "batch_id", "status"),
    Index("ix_tasks_project_id_id", "project_id", "id"),
)

# Gold made from a real task (an expert's decision promoted to gold): the
# task it copies. A worker who was given the original never gets the copy,
# which they would recognise (and could look up in their own answers).
gold_origins = Table(
    "gold_origins",
    metadata,
    Column("gold_task_id", BigId, ForeignKey("tasks.id"), primary_key=True),
    Column("origin_task_id", BigId, ForeignKey("tasks.id"), nullable=False, index=True),
)

assignments = Table(
    "assignments",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("public_id", String(40), nullable=False, unique=True),
    Column("project_id", String(ID), ForeignKey("projects.id"), nullable=False),
    Column("task_id", BigId, ForeignKey("tasks.id"), nullable=False),
    Column("worker_id", String(ID), ForeignKey("workers.id"), nullable=False),
    # Gold leases take no slot: gold tasks have no overlap and their rows are
    # never updated by claims or answers (many workers answer them at once).
    Column("is_gold", Boolean(), nullable=False, server_default="0"),
    # Fixed when the lease is granted, paid when the answer is accepted;
    # ``reserved`` when the project's budget set it aside for this lease.
    Column("reward", Integer(), nullable=False, server_default="0"),
    Column("reserved", Boolean(), nullable=False, server_default="0"),
    # the model suggestion shown with the task, when the project shows them
    Column("suggestion", String(LABEL), nullable=True),
    Column("status", String(16), nullable=False, server_default="leased"),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("closed_at", UtcDateTime(), nullable=True),
    CheckConstraint("status IN ('leased', 'answered', 'skipped', 'expired')", name="status"),
    UniqueConstraint("worker_id", "task_id"),
    Index("ix_assignments_task_id", "task_id"),
    # At most one live lease per worker and project: a second concurrent
    # /work/next of the same worker loses on this index and gets the first one.
    Index(
        "ix_assignments_live_lease",
        "worker_id",
        "project_id",
        unique=True,
        postgresql_where=text("status = 'leased'"),
        sqlite_where=text("status = 'leased'"),
    ),
    # Overdue leases, oldest first: the sweeper's range, and a claim's (once a
    # second) with its project as a filter, over the few leases past due. Not
    # led by project_id: then it competed with ix_assignments_live_lease for
    # a worker's lease, and on a young table's statistics the planner took it
    # and read every live lease of the project on each claim.
    Index(
        "ix_assignments_expiry",
        "expires_at",
        postgresql_where=text("status = 'leased'"),
        sqlite_where=text("status = 'leased'"),
    ),
)

answers = Table(
    "answers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("assignment_id", BigId, ForeignKey("assignments.id"), nullable=False, unique=True),
    Column("project_id", String(ID), ForeignKey("projects.id"), nullable=False),
    Column("task_id", BigId, ForeignKey("tasks.id"), nullable=False),
    Column("worker_id", String(ID), ForeignKey("workers.id"), nullable=False),
    Column("label", String(LABEL), nullable=False),
    Column("duration_ms", Integer(), nullable=False),
    Column("fast", Boolean(), nullable=False, server_default="0"),
    # Set when blocking the worker asked for this answer to be collected again
    # from someone else (recollection): each answer is recollected once, however
    # often the worker is blocked and unblocked.
    Column("recollected", Boolean(), nullable=False, server_default="0"),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_answers_task_id", "task_id"),
    Index("ix_answers_worker_id", "worker_id"),
    Index("ix_answers_project_id_id", "project_id", "id"),
)


# What the project knows of each worker: counters kept at answer time, the
# worker model and reliability written by each consensus fit.
worker_stats = Table(
    "worker_project_stats",
    metadata,
    Column("project_id", String(ID), ForeignKey("projects.id"), primary_key=True),
    Column("worker_id", String(ID), ForeignKey("workers.id"), primary_key=True),
    Column("answers", Integer(), nullable=False, server_default="0"),
    Column("gold_answers", Integer(), nullable=False, server_default="0"),
    Column("gold_correct", Integer(), nullable=False, server_default="0"),
    Column("fast_answers", Integer(), nullable=False, server_default="0"),
    Column("confusion", Json, nullable=True),
    Column("reliability", Float(), nullable=True),
    Column("reliability_low", Float(), nullable=True),
    Column("reliability_high", Float(), nullable=True),
    Column("spammer_score", Float(), nullable=True),
    Column("fit_version", Integer(), nullable=True),
    Column("blocked", Boolean(), nullable=False, server_default="0"),
    Column("blocked_reason", String(16), nullable=True),
    Column("blocked_at", UtcDateTime(), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    CheckConstraint("blocked_reason IS NULL OR blocked_reason IN ('gold', 'operator', 'fast')", name="blocked_reason"),
    CheckConstraint("0 <= gold_correct AND gold_correct <= gold_answers AND gold_answers <= answers", name="counts"),
)

# One row per Dawid-Skene fit of a project: its summary and the class priors
# and newcomer matrix the online step reads until the next fit.
consensus_fits = Table(
    "consensus_fits",
    metadata,
    Column("project_id", String(ID), ForeignKey("projects.id"), primary_key=True),
    Column("version", Integer(), primary_key=True),
    Column("fitted_at", UtcDateTime(), nullable=False),
    Column("last_answer_id", BigId, nullable=False),
    Column("answers", Integer(), nullable=False),
    Column("tasks", Integer(), nullable=False),
    Column("workers", Integer(), nullable=False),
    Column("iterations", Integer(), nullable=False),
    Column("converged", Boolean(), nullable=False),
    Column("log_likelihood", Float(), nullable=False),
    Column("seconds", Float(), nullable=False),
    Column("priors", Json, nullable=False),
    Column("newcomer", Json, nullable=False),
)

# Committed spend of projects with a budget: posted money plus the rewards
# of live leases. The claim reserves a reward here in the same statement that
# checks the budget, so a project never commits past it.
project_spend = Table(
    "project_spend",
    metadata,
    Column("project_id", String(ID), ForeignKey("projects.id"), primary_key=True),
    Column("posted", BigInteger(), nullable=False, server_default="0"),
    Column("reserved", BigInteger(), nullable=False, server_default="0"),
    CheckConstraint("reserved >= 0", name="reserved"),
)

# The double-entry ledger: append-only. A transaction's entries sum to zero;
# its idempotency key is unique, so retried postings post once; a reward is
# settled (approved or reversed) at most once.
ledger_transactions = Table(
    "ledger_transactions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(NAME), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("organization_id", String(ID), ForeignKey("organizations.id"), nullable=False),
    Column("project_id", String(ID), ForeignKey("projects.id"), nullable=True),
    Column("worker_id", String(ID), ForeignKey("workers.id"), nullable=True),
    Column("answer_id", BigId, ForeignKey("answers.id"), nullable=True, unique=True),
    Column("settles", BigId, ForeignKey("ledger_transactions.id"), nullable=True, unique=True),
    Column("payout_run_id", String(ID), ForeignKey("payout_runs.id"), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # A reward approves itself at due_at (its project's review period) unless settled before.
    Column("due_at", UtcDateTime(), nullable=True),
    CheckConstraint("kind IN ('reward', 'approval', 'reversal', 'bonus', 'payout')", name="kind"),
    Index("ix_ledger_transactions_due_at", "due_at"),
    Index("ix_ledger_transactions_project_id_kind", "project_id", "kind"),
    Index("ix_ledger_transactions_worker_id_id", "worker_id", "id"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("transaction_id", BigId, ForeignKey("ledger_transactions.id"), nullable=False),
    Column("account_type", String(24), nullable=False),
    Column("organization_id", String(ID), ForeignKey("organizations.id"), nullable=False),
    Column("project_id", String(ID), ForeignKey("projects.id"), nullable=True),
    Column("worker_id", String(ID), ForeignKey("workers.id"), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger(), nullable=False),
    CheckConstraint("amount <> 0", name="amount"),
    CheckConstraint(
        "account_type IN ('project', 'worker_pending', 'worker_available', 'payouts')", name="account_type"
    ),
    CheckConstraint(
        "(account_type = 'project') = (project_id IS NOT NULL)"
        " AND (account_type IN ('worker_pending', 'worker_available')) = (worker_id IS NOT NULL)",
        name="owner",
    ),
    Index("ix_ledger_entries_transaction_id", "transaction_id"),
    Index("ix_ledger_entries_worker_id_account_type", "worker_id", "account_type"),
)

payout_runs = Table(
    "payout_runs",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("organization_id", String(ID), ForeignKey("organizations.id"), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("minimum", BigInteger(), nullable=False),
    Column("workers", Integer(), nullable=False),
    Column("total", BigInteger(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

# The outbox: events are written in the transaction of the change that
# causes them; the feed replays them by id, webhooks deliver them after.
events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("public_id", String(40), nullable=False, unique=True),
    Column("dedupe_key", String(NAME), nullable=True, unique=True),
    Column("organization_id", String(ID), ForeignKey("organizations.id"), nullable=False),
    Column("project_id", String(ID), ForeignKey("projects.id"), nullable=False),
    Column("type", String(40), nullable=False),
    Column("data", Json, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_events_project_id_id", "project_id", "id"),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("organization_id", String(ID), ForeignKey("organizations.id"), nullable=False),
    Column("project_id", String(ID), ForeignKey("projects.id"), nullable=False, index=True),
    Column("url", Text(), nullable=False),
    Column("events", Json, nullable=False),
    # The signing secret, sealed with the server's key (AES-GCM): it must be
    # readable to sign, so it cannot be hashed like API keys.
    Column("sealed_secret", Text(), nullable=False),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("failures", Integer(), nullable=False, server_default="0"),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("disabled_at", UtcDateTime(), nullable=True),
    # A deleted webhook keeps its row (and its attempts), so deleting it again
    # finds it; it gets no deliveries and is not listed.
    Column("deleted_at", UtcDateTime(), nullable=True),
    CheckConstraint("status IN ('active', 'disabled', 'deleted')", name="status"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("webhook_id", String(ID), ForeignKey("webhooks.id"), nullable=False),
    Column("event_id", BigId, ForeignKey("events.id"), nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer(), nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
    UniqueConstraint("webhook_id", "event_id"),
    Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        postgresql_where=text("status = 'pending'"),
        sqlite_where=text("status = 'pending'"),
    ),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("delivery_id", BigId, ForeignKey("webhook_deliveries.id"), nullable=False, index=True),
    Column("attempted_at", UtcDateTime(), nullable=False),
    Column("status_code", Integer(), nullable=True),
    # A coarse failure class (crowd/webhooks/policy.py), never a transport
    # error's text; the duration only when a reply came: what a connection
    # attempt did and how long it took would map the network behind the URL.
    Column("error", Text(), nullable=True),
    Column("duration_ms", Integer(), nullable=True),
)

# Problems workers report with a task (a broken image, an unclear text).
reports = Table(
    "reports",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("assignment_id", BigId, ForeignKey("assignments.id"), nullable=False, unique=True),
    Column("project_id", String(ID), ForeignKey("projects.id"), nullable=False),
    Column("task_id", BigId, ForeignKey("tasks.id"), nullable=False, index=True),
    Column("worker_id", String(ID), ForeignKey("workers.id"), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

# Machine predictions: one per task and model (a newer one replaces it).
predictions = Table(
    "predictions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", String(ID), ForeignKey("projects.id"), nullable=False),
    Column("task_id", BigId, ForeignKey("tasks.id"), nullable=False),
    Column("model", String(NAME), nullable=False),
    Column("label", String(LABEL), nullable=False),
    Column("score", Float(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("task_id", "model"),
    Index("ix_predictions_project_id_model", "project_id", "model"),
    CheckConstraint("score IS NULL OR (score >= 0 AND score <= 1)", name="score"),
)

# What the last fit learned of each model, treated as a worker of its own.
model_stats = Table(
    "model_project_stats",
    metadata,
    Column("project_id", String(ID), ForeignKey("projects.id"), primary_key=True),
    Column("model", String(NAME), primary_key=True),
    Column("confusion", Json, nullable=True),
    Column("reliability", Float(), nullable=True),
    Column("fit_version", Integer(), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)

#: Indexes with DESC or expression columns, which autogenerate cannot compare
#: on every dialect; ``tests/migrations`` checks their definitions instead.
EXPRESSION_INDEXES = frozenset({"ix_tasks_claim"})


def compared_by_autogenerate(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic ``include_object`` hook: skip what it cannot compare."""
    return not (type_ == "index" and name in EXPRESSION_INDEXES)
