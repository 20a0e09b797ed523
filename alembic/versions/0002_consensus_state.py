"""consensus state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "consensus_fits",
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fitted_at", TIMESTAMP, nullable=False),
        sa.Column("last_answer_id", BIGID, nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.Column("workers", sa.Integer(), nullable=False),
        sa.Column("iterations", sa.Integer(), nullable=False),
        sa.Column("converged", sa.Boolean(), nullable=False),
        sa.Column("log_likelihood", sa.Float(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("priors", JSON, nullable=False),
        sa.Column("newcomer", JSON, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_consensus_fits_project_id_projects")),
        sa.PrimaryKeyConstraint("project_id", "version", name=op.f("pk_consensus_fits")),
    )
    op.create_table(
        "worker_project_stats",
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("worker_id", sa.String(length=32), nullable=False),
        sa.Column("answers", sa.Integer(), server_default="0", nullable=False),
        sa.Column("gold_answers", sa.Integer(), server_default="0", nullable=False),
        sa.Column("gold_correct", sa.Integer(), server_default="0", nullable=False),
        sa.Column("confusion", JSON, nullable=True),
        sa.Column("reliability", sa.Float(), nullable=True),
        sa.Column("reliability_low", sa.Float(), nullable=True),
        sa.Column("reliability_high", sa.Float(), nullable=True),
        sa.Column("spammer_score", sa.Float(), nullable=True),
        sa.Column("fit_version", sa.Integer(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "0 <= gold_correct AND gold_correct <= gold_answers AND gold_answers <= answers",
            name=op.f("ck_worker_project_stats_counts"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_worker_project_stats_project_id_projects")
        ),
        sa.ForeignKeyConstraint(["worker_id"], ["workers.id"], name=op.f("fk_worker_project_stats_worker_id_workers")),
        sa.PrimaryKeyConstraint("project_id", "worker_id", name=op.f("pk_worker_project_stats")),
    )


def downgrade() -> None:
    op.drop_table("worker_project_stats")
    op.drop_table("consensus_fits")
