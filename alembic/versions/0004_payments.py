"""payments

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "payout_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organization_id", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("minimum", sa.BigInteger(), nullable=False),
        sa.Column("workers", sa.Integer(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_payout_runs_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_runs")),
    )
    op.create_table(
        "project_spend",
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("posted", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reserved", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint("reserved >= 0", name=op.f("ck_project_spend_reserved")),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_project_spend_project_id_projects")),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_project_spend")),
    )
    op.create_table(
        "ledger_transactions",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("organization_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=True),
        sa.Column("worker_id", sa.String(length=32), nullable=True),
        sa.Column("answer_id", BIGID, nullable=True),
        sa.Column("settles", BIGID, nullable=True),
        sa.Column("payout_run_id", sa.String(length=32), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('reward', 'approval', 'reversal', 'bonus', 'payout')", name=op.f("ck_ledger_transactions_kind")
        ),
        sa.ForeignKeyConstraint(["answer_id"], ["answers.id"], name=op.f("fk_ledger_transactions_answer_id_answers")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_ledger_transactions_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["payout_run_id"], ["payout_runs.id"], name=op.f("fk_ledger_transactions_payout_run_id_payout_runs")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_ledger_transactions_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["settles"], ["ledger_transactions.id"], name=op.f("fk_ledger_transactions_settles_ledger_transactions")
        ),
        sa.ForeignKeyConstraint(["worker_id"], ["workers.id"], name=op.f("fk_ledger_transactions_worker_id_workers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
        sa.UniqueConstraint("answer_id", name=op.f("uq_ledger_transactions_answer_id")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_ledger_transactions_idempotency_key")),
        sa.UniqueConstraint("settles", name=op.f("uq_ledger_transactions_settles")),
    )
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_transactions_due_at", ["due_at"], unique=False)
        batch_op.create_index("ix_ledger_transactions_project_id_kind", ["project_id", "kind"], unique=False)
        batch_op.create_index("ix_ledger_transactions_worker_id_id", ["worker_id", "id"], unique=False)

    op.create_table(
        "ledger_entries",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("transaction_id", BIGID, nullable=False),
        sa.Column("account_type", sa.String(length=24), nullable=False),
        sa.Column("organization_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=True),
        sa.Column("worker_id", sa.String(length=32), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "(account_type = 'project') = (project_id IS NOT NULL) AND (account_type IN ('worker_pending', 'worker_available')) = (worker_id IS NOT NULL)",
            name=op.f("ck_ledger_entries_owner"),
        ),
        sa.CheckConstraint(
            "account_type IN ('project', 'worker_pending', 'worker_available', 'payouts')",
            name=op.f("ck_ledger_entries_account_type"),
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_entries_amount")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_ledger_entries_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_ledger_entries_project_id_projects")),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_entries_transaction_id_ledger_transactions"),
        ),
        sa.ForeignKeyConstraint(["worker_id"], ["workers.id"], name=op.f("fk_ledger_entries_worker_id_workers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_transaction_id", ["transaction_id"], unique=False)
        batch_op.create_index("ix_ledger_entries_worker_id_account_type", ["worker_id", "account_type"], unique=False)

    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reward", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("reserved", sa.Boolean(), server_default="0", nullable=False))

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reject_blocked", sa.Boolean(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("reject_blocked")

    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_column("reserved")
        batch_op.drop_column("reward")

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_worker_id_account_type")
        batch_op.drop_index("ix_ledger_entries_transaction_id")

    op.drop_table("ledger_entries")
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_transactions_worker_id_id")
        batch_op.drop_index("ix_ledger_transactions_project_id_kind")
        batch_op.drop_index("ix_ledger_transactions_due_at")

    op.drop_table("ledger_transactions")
    op.drop_table("project_spend")
    op.drop_table("payout_runs")
