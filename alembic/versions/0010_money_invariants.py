"""answers.recollected: blocking a worker collects each of their answers again at most once

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recollected", sa.Boolean(), server_default="0", nullable=False))
    # Workers blocked now in projects that recollect had their answers collected
    # again when they were blocked: an unblock and a new block must not ask twice.
    op.execute(
        """
        UPDATE answers SET recollected = TRUE
        WHERE EXISTS (
            SELECT 1 FROM worker_project_stats s JOIN projects p ON p.id = s.project_id
            WHERE s.project_id = answers.project_id AND s.worker_id = answers.worker_id
              AND s.blocked AND p.recollect_blocked
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.drop_column("recollected")
