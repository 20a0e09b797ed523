"""core schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types spelled out here, not imported from crowd.db, so this migration keeps
# meaning what it meant when later code changes.
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPEN_REAL_TASKS = sa.text("status = 'open' AND NOT is_gold")
LEASED = sa.text("status = 'leased'")


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("name", name=op.f("uq_organizations_name")),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default="active", nullable=False
        ),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'blocked')", name=op.f("ck_workers_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_workers_token_hash")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organization_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "role IN ('platform', 'operator')", name=op.f("ck_api_keys_role")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_api_keys_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_api_keys_secret_hash")),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organization_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default="active", nullable=False
        ),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column("min_overlap", sa.Integer(), nullable=False),
        sa.Column("max_overlap", sa.Integer(), nullable=False),
        sa.Column("confidence_target", sa.Float(), nullable=False),
        sa.Column("lease_seconds", sa.Integer(), nullable=False),
        sa.Column("gold_rate", sa.Float(), nullable=False),
        sa.Column("onboarding_tasks", sa.Integer(), nullable=False),
        sa.Column("onboarding_gold_rate", sa.Float(), nullable=False),
        sa.Column("min_gold_answers", sa.Integer(), nullable=False),
        sa.Column("min_accuracy", sa.Float(), nullable=False),
        sa.Column("gold_feedback", sa.Boolean(), nullable=False),
        sa.Column("reward", sa.Integer(), nullable=False),
        sa.Column("bonus", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("budget", sa.Integer(), nullable=True),
        sa.Column("review_seconds", sa.Integer(), nullable=False),
        sa.Column("review_threshold", sa.Float(), nullable=False),
        sa.Column("min_seconds", sa.Float(), nullable=False),
        sa.Column("min_human_answers", sa.Integer(), nullable=False),
        sa.Column("show_predictions", sa.Boolean(), nullable=False),
        sa.Column("routing", sa.String(length=16), nullable=False),
        sa.Column("min_reliability", sa.Float(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "routing IN ('depth_first', 'uncertainty')",
            name=op.f("ck_projects_routing"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'paused')", name=op.f("ck_projects_status")
        ),
        sa.CheckConstraint(
            "confidence_target > 0 AND confidence_target <= 1",
            name=op.f("ck_projects_confidence_target"),
        ),
        sa.CheckConstraint(
            "gold_rate >= 0 AND gold_rate <= 1", name=op.f("ck_projects_gold_rate")
        ),
        sa.CheckConstraint(
            "lease_seconds >= 1", name=op.f("ck_projects_lease_seconds")
        ),
        sa.CheckConstraint(
            "min_overlap >= 1 AND max_overlap >= min_overlap",
            name=op.f("ck_projects_overlap"),
        ),
        sa.CheckConstraint(
            "reward >= 0 AND bonus >= 0 AND (budget IS NULL OR budget >= 0)",
            name=op.f("ck_projects_money"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_projects_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_projects_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "batches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("task_count", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_batches_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
        sa.UniqueConstraint(
            "project_id", "external_id", name=op.f("uq_batches_project_id_external_id")
        ),
        sa.UniqueConstraint(
            "project_id",
            "idempotency_key",
            name=op.f("uq_batches_project_id_idempotency_key"),
        ),
    )
    op.create_table(
        "tasks",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column("is_gold", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("gold_label", sa.String(length=200), nullable=True),
        sa.Column(
            "status", sa.String(length=16), server_default="open", nullable=False
        ),
        sa.Column("target_overlap", sa.Integer(), nullable=False),
        sa.Column("answer_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("lease_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("posterior", JSON, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("completed_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'completed')", name=op.f("ck_tasks_status")
        ),
        sa.CheckConstraint(
            "(gold_label IS NOT NULL) = is_gold", name=op.f("ck_tasks_gold_label")
        ),
        sa.CheckConstraint(
            "answer_count + lease_count <= target_overlap",
            name=op.f("ck_tasks_overlap"),
        ),
        sa.CheckConstraint(
            "answer_count >= 0 AND lease_count >= 0", name=op.f("ck_tasks_counts")
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_tasks_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_tasks_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sa.UniqueConstraint(
            "project_id", "external_id", name=op.f("uq_tasks_project_id_external_id")
        ),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tasks_claim",
            [
                "project_id",
                sa.text("priority DESC"),
                sa.text("answer_count DESC"),
                "id",
            ],
            unique=False,
            postgresql_where=OPEN_REAL_TASKS,
            sqlite_where=OPEN_REAL_TASKS,
        )
        batch_op.create_index(
            "ix_tasks_batch_id_status", ["batch_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_tasks_project_id_id", ["project_id", "id"], unique=False
        )

    op.create_table(
        "assignments",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("task_id", BIGID, nullable=False),
        sa.Column("worker_id", sa.String(length=32), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default="leased", nullable=False
        ),
        sa.Column("issued_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "status IN ('leased', 'answered', 'skipped', 'expired')",
            name=op.f("ck_assignments_status"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_assignments_project_id_projects"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_assignments_task_id_tasks")
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"], ["workers.id"], name=op.f("fk_assignments_worker_id_workers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.UniqueConstraint("public_id", name=op.f("uq_assignments_public_id")),
        sa.UniqueConstraint(
            "worker_id", "task_id", name=op.f("uq_assignments_worker_id_task_id")
        ),
    )
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assignments_expiry",
            ["project_id", "expires_at"],
            unique=False,
            postgresql_where=LEASED,
            sqlite_where=LEASED,
        )
        batch_op.create_index(
            "ix_assignments_live_lease",
            ["worker_id", "project_id"],
            unique=True,
            postgresql_where=LEASED,
            sqlite_where=LEASED,
        )
        batch_op.create_index("ix_assignments_task_id", ["task_id"], unique=False)

    op.create_table(
        "answers",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("assignment_id", BIGID, nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("task_id", BIGID, nullable=False),
        sa.Column("worker_id", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignments.id"],
            name=op.f("fk_answers_assignment_id_assignments"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_answers_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_answers_task_id_tasks")
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"], ["workers.id"], name=op.f("fk_answers_worker_id_workers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answers")),
        sa.UniqueConstraint("assignment_id", name=op.f("uq_answers_assignment_id")),
    )
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_answers_project_id_id", ["project_id", "id"], unique=False
        )
        batch_op.create_index("ix_answers_task_id", ["task_id"], unique=False)
        batch_op.create_index("ix_answers_worker_id", ["worker_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.drop_index("ix_answers_task_id")
        batch_op.drop_index("ix_answers_worker_id")
        batch_op.drop_index("ix_answers_project_id_id")

    op.drop_table("answers")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_assignments_task_id")
        batch_op.drop_index(
            "ix_assignments_live_lease", postgresql_where=LEASED, sqlite_where=LEASED
        )
        batch_op.drop_index(
            "ix_assignments_expiry", postgresql_where=LEASED, sqlite_where=LEASED
        )

    op.drop_table("assignments")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_project_id_id")
        batch_op.drop_index("ix_tasks_batch_id_status")
        batch_op.drop_index("ix_tasks_claim")

    op.drop_table("tasks")
    op.drop_table("batches")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_projects_organization_id"))

    op.drop_table("projects")
    op.drop_table("api_keys")
    op.drop_table("workers")
    op.drop_table("organizations")
