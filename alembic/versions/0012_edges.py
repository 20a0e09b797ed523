"""trust at the edges: webhooks can be deleted and record only coarse failures; gold remembers its origin

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f("ck_webhooks_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_webhooks_status"), "status IN ('active', 'disabled', 'deleted')")
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.alter_column("duration_ms", existing_type=sa.Integer(), nullable=True)
    # Attempts recorded before kept the transport error's text and how long
    # it took: enough to tell a closed port from a filtered one. Keep only
    # the coarse class (crowd/webhooks/policy.py).
    op.execute(
        "UPDATE webhook_attempts SET duration_ms = NULL, error = CASE "
        "WHEN error LIKE 'webhook url%' THEN 'address-refused' ELSE 'no-response' END "
        "WHERE status_code IS NULL"
    )
    op.create_table(
        "gold_origins",
        sa.Column("gold_task_id", BIGID, nullable=False),
        sa.Column("origin_task_id", BIGID, nullable=False),
        sa.ForeignKeyConstraint(["gold_task_id"], ["tasks.id"], name=op.f("fk_gold_origins_gold_task_id_tasks")),
        sa.ForeignKeyConstraint(["origin_task_id"], ["tasks.id"], name=op.f("fk_gold_origins_origin_task_id_tasks")),
        sa.PrimaryKeyConstraint("gold_task_id", name=op.f("pk_gold_origins")),
    )
    with op.batch_alter_table("gold_origins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gold_origins_origin_task_id"), ["origin_task_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("gold_origins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gold_origins_origin_task_id"))
    op.drop_table("gold_origins")
    op.execute("UPDATE webhook_attempts SET duration_ms = 0 WHERE duration_ms IS NULL")
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.alter_column("duration_ms", existing_type=sa.Integer(), nullable=False)
    op.execute(
        "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT d.id FROM webhook_deliveries AS d "
        "JOIN webhooks AS w ON w.id = d.webhook_id WHERE w.status = 'deleted')"
    )
    op.execute("DELETE FROM webhook_deliveries WHERE webhook_id IN (SELECT id FROM webhooks WHERE status = 'deleted')")
    op.execute("DELETE FROM webhooks WHERE status = 'deleted'")
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_webhooks_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_webhooks_status"), "status IN ('active', 'disabled')")
        batch_op.drop_column("deleted_at")
