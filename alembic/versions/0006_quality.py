"""quality

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


OPEN_REAL_TASKS = sa.text("status = 'open' AND NOT is_gold")


def _claim_index() -> None:
    """SQLite rebuilds ``tasks`` in batch mode and, reflecting its indexes,
    loses the DESC of the claim index: build it again as declared."""
    op.drop_index("ix_tasks_claim", table_name="tasks")
    op.create_index(
        "ix_tasks_claim",
        "tasks",
        ["project_id", sa.text("priority DESC"), sa.text("answer_count DESC"), "id"],
        postgresql_where=OPEN_REAL_TASKS,
        sqlite_where=OPEN_REAL_TASKS,
    )


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint("role", type_="check")
        batch_op.create_check_constraint("role", "role IN ('platform', 'operator', 'reviewer')")
    op.create_table(
        "reports",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("assignment_id", BIGID, nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("task_id", BIGID, nullable=False),
        sa.Column("worker_id", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["assignments.id"], name=op.f("fk_reports_assignment_id_assignments")
        ),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_reports_project_id_projects")),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_reports_task_id_tasks")),
        sa.ForeignKeyConstraint(["worker_id"], ["workers.id"], name=op.f("fk_reports_worker_id_workers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("assignment_id", name=op.f("uq_reports_assignment_id")),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reports_task_id"), ["task_id"], unique=False)

    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fast", sa.Boolean(), server_default="0", nullable=False))

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fast_policy", sa.String(length=16), server_default="flag", nullable=False))
        batch_op.add_column(sa.Column("fast_limit", sa.Integer(), server_default="5", nullable=False))
        batch_op.add_column(sa.Column("fast_window", sa.Integer(), server_default="20", nullable=False))
        batch_op.add_column(sa.Column("drift_threshold", sa.Float(), server_default="0.2", nullable=False))
        batch_op.create_check_constraint("fast_policy", "fast_policy IN ('flag', 'exclude', 'block')")

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("review_reason", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("expert_label", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("decided_by", sa.String(length=32), nullable=True))
        batch_op.create_check_constraint(
            "review_status", "review_status IS NULL OR review_status IN ('pending', 'decided')"
        )
        batch_op.create_index(
            "ix_tasks_review",
            ["project_id", "id"],
            unique=False,
            postgresql_where=sa.text("review_status = 'pending'"),
            sqlite_where=sa.text("review_status = 'pending'"),
        )
    _claim_index()

    with op.batch_alter_table("worker_project_stats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fast_answers", sa.Integer(), server_default="0", nullable=False))
        batch_op.drop_constraint("blocked_reason", type_="check")
        batch_op.create_check_constraint(
            "blocked_reason", "blocked_reason IS NULL OR blocked_reason IN ('gold', 'operator', 'fast')"
        )


def downgrade() -> None:
    with op.batch_alter_table("worker_project_stats", schema=None) as batch_op:
        batch_op.drop_constraint("blocked_reason", type_="check")
        batch_op.create_check_constraint("blocked_reason", "blocked_reason IS NULL OR blocked_reason IN ('gold', 'operator')")
        batch_op.drop_column("fast_answers")

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_tasks_review",
            postgresql_where=sa.text("review_status = 'pending'"),
            sqlite_where=sa.text("review_status = 'pending'"),
        )
        batch_op.drop_constraint("review_status", type_="check")
        batch_op.drop_column("decided_by")
        batch_op.drop_column("expert_label")
        batch_op.drop_column("review_reason")
        batch_op.drop_column("review_status")
    _claim_index()

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_constraint("fast_policy", type_="check")
        batch_op.drop_column("drift_threshold")
        batch_op.drop_column("fast_window")
        batch_op.drop_column("fast_limit")
        batch_op.drop_column("fast_policy")

    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.drop_column("fast")

    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reports_task_id"))

    op.drop_table("reports")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint("role", type_="check")
        batch_op.create_check_constraint("role", "role IN ('platform', 'operator')")
