"""ix_assignments_expiry on expires_at alone: a worker's lease is found by ix_assignments_live_lease

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEASED = sa.text("status = 'leased'")


def upgrade() -> None:
    _index(["expires_at"])


def downgrade() -> None:
    _index(["project_id", "expires_at"])


def _index(columns: list[str]) -> None:
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_assignments_expiry", postgresql_where=LEASED, sqlite_where=LEASED)
        batch_op.create_index(
            "ix_assignments_expiry", columns, unique=False, postgresql_where=LEASED, sqlite_where=LEASED
        )
