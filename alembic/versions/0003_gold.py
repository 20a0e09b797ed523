"""gold

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_gold", sa.Boolean(), server_default="0", nullable=False))

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recollect_blocked", sa.Boolean(), server_default="0", nullable=False))

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gold_explanation", sa.Text(), nullable=True))
        batch_op.create_index(
            "ix_tasks_gold",
            ["project_id"],
            unique=False,
            postgresql_where=sa.text("is_gold"),
            sqlite_where=sa.text("is_gold"),
        )

    with op.batch_alter_table("worker_project_stats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("blocked", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("blocked_reason", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint(
            "blocked_reason", "blocked_reason IS NULL OR blocked_reason IN ('gold', 'operator')"
        )


def downgrade() -> None:
    with op.batch_alter_table("worker_project_stats", schema=None) as batch_op:
        batch_op.drop_constraint("blocked_reason", type_="check")
        batch_op.drop_column("blocked_at")
        batch_op.drop_column("blocked_reason")
        batch_op.drop_column("blocked")

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_gold", postgresql_where=sa.text("is_gold"), sqlite_where=sa.text("is_gold"))
        batch_op.drop_column("gold_explanation")

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("recollect_blocked")

    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_column("is_gold")
