"""workforces: every worker in one organization; groups; deactivation

Every worker gets ``organization_id`` (not null) and ``deactivated_at``;
``worker_groups``, ``worker_group_members`` and ``project_required_groups``
are new, their tenant tied to both sides by composite foreign keys on
``(id, organization_id)`` of ``workers``, ``worker_groups`` and ``projects``.

Which organization an existing worker gets. Until now no record said which
organization's operator made a worker, so the migration can only infer it,
and it does so without widening anyone's access: a worker is put where it
already worked, or where nobody else could be, or nowhere.

1. A worker with assignments gets the organization whose projects gave it
   the most of them (ties: the organization of its first assignment). For a
   worker that only ever worked for one organization, the usual case, that
   is that organization. A worker that worked for several keeps only one of
   them; its ledger, answers and balances elsewhere stay as they were.
2. A worker without assignments, in a database with exactly one
   organization, gets that organization (single-tenant installations lose
   nothing); in a database with none, the organization named ``default``
   is created for it (what ``crowd keys create`` and ``crowd workers create``
   use when no ``--organization`` is given).
3. A worker without assignments in a database with several organizations
   could have been made by any of them: guessing would hand it to a tenant
   that never chose it. It goes to an organization created for the purpose,
   ``unassigned workers (migration 0011)`` (another name if that one is
   taken), which has no projects and no keys: the worker is served nothing
   until an operator makes a new one, or an administrator moves it with
   ``UPDATE workers SET organization_id = … WHERE id = …``.

Rule 1 cannot tell a worker an organization made from one another
organization's operator made to scrape it (the attack this closes): that
worker keeps the access it had, to one organization. After migrating, each
operator should review ``GET /api/v1/workers`` and deactivate workers they
do not know (docs/security.md).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types spelled out here, not imported from crowd.db, so this migration keeps
# working whatever the code declares later.
ID = sa.String(length=32)
NAME = sa.String(length=200)
MOMENT = sa.DateTime(timezone=True)

HOLDING_ORGANIZATION = "unassigned workers (migration 0011)"
DEFAULT_ORGANIZATION = "default"

_workers = sa.table("workers", sa.column("id", ID), sa.column("organization_id", ID))
_organizations = sa.table("organizations", sa.column("id", ID), sa.column("name", NAME), sa.column("created_at", MOMENT))


def upgrade() -> None:
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organization_id", ID, nullable=True))
        batch_op.add_column(sa.Column("deactivated_at", MOMENT, nullable=True))
    _assign_organizations()
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.alter_column("organization_id", existing_type=ID, nullable=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_workers_organization_id_organizations"), "organizations", ["organization_id"], ["id"]
        )
        batch_op.create_unique_constraint(batch_op.f("uq_workers_id_organization_id"), ["id", "organization_id"])
        batch_op.create_index("ix_workers_organization_id_id", ["organization_id", "id"], unique=False)
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_projects_id_organization_id"), ["id", "organization_id"])

    op.create_table(
        "worker_groups",
        sa.Column("id", ID, nullable=False),
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_worker_groups_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_groups")),
        sa.UniqueConstraint("id", "organization_id", name=op.f("uq_worker_groups_id_organization_id")),
        sa.UniqueConstraint("organization_id", "name", name=op.f("uq_worker_groups_organization_id_name")),
    )
    op.create_table(
        "worker_group_members",
        sa.Column("group_id", ID, nullable=False),
        sa.Column("worker_id", ID, nullable=False),
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("added_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id", "organization_id"],
            ["worker_groups.id", "worker_groups.organization_id"],
            name=op.f("fk_worker_group_members_group_id_worker_groups"),
        ),
        sa.ForeignKeyConstraint(
            ["worker_id", "organization_id"],
            ["workers.id", "workers.organization_id"],
            name=op.f("fk_worker_group_members_worker_id_workers"),
        ),
        sa.PrimaryKeyConstraint("group_id", "worker_id", name=op.f("pk_worker_group_members")),
    )
    op.create_index("ix_worker_group_members_worker_id", "worker_group_members", ["worker_id"], unique=False)
    op.create_table(
        "project_required_groups",
        sa.Column("project_id", ID, nullable=False),
        sa.Column("group_id", ID, nullable=False),
        sa.Column("organization_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id", "organization_id"],
            ["worker_groups.id", "worker_groups.organization_id"],
            name=op.f("fk_project_required_groups_group_id_worker_groups"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id", "organization_id"],
            ["projects.id", "projects.organization_id"],
            name=op.f("fk_project_required_groups_project_id_projects"),
        ),
        sa.PrimaryKeyConstraint("project_id", "group_id", name=op.f("pk_project_required_groups")),
    )
    op.create_index("ix_project_required_groups_group_id", "project_required_groups", ["group_id"], unique=False)


def _assign_organizations() -> None:
    """The rules of the module's docstring, set-based: rule 1 in one UPDATE,
    rules 2 and 3 in another for whoever is left."""
    bind = op.get_bind()
    bind.execute(
        sa.text(
            """
            UPDATE workers SET organization_id = (
                SELECT p.organization_id
                FROM assignments AS a JOIN projects AS p ON p.id = a.project_id
                WHERE a.worker_id = workers.id
                GROUP BY p.organization_id
                ORDER BY count(*) DESC, min(a.id)
                LIMIT 1)
            """
        )
    )
    unplaced = bind.execute(sa.select(sa.func.count()).select_from(_workers).where(_workers.c.organization_id.is_(None)))
    if not unplaced.scalar_one():
        return
    organizations = bind.execute(sa.select(_organizations.c.id).order_by(_organizations.c.id).limit(2)).scalars().all()
    if len(organizations) == 1:
        home = organizations[0]
    else:
        home = _new_organization(DEFAULT_ORGANIZATION if not organizations else _free_name(HOLDING_ORGANIZATION))
    bind.execute(sa.update(_workers).where(_workers.c.organization_id.is_(None)).values(organization_id=home))


def _free_name(wanted: str) -> str:
    taken = set(
        op.get_bind()
        .execute(sa.select(_organizations.c.name).where(_organizations.c.name.like(wanted + "%")))
        .scalars()
    )
    name, n = wanted, 1
    while name in taken:
        n += 1
        name = f"{wanted} {n}"
    return name


def _new_organization(name: str) -> str:
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"  # as crowd.ids.new_id
    organization_id = "org_" + "".join(alphabet[byte & 31] for byte in secrets.token_bytes(20))
    now = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # SQLite keeps naive UTC, as crowd.db.types.UtcDateTime writes it
    op.get_bind().execute(sa.insert(_organizations).values(id=organization_id, name=name, created_at=now))
    return organization_id


def downgrade() -> None:
    op.drop_index("ix_project_required_groups_group_id", table_name="project_required_groups")
    op.drop_table("project_required_groups")
    op.drop_index("ix_worker_group_members_worker_id", table_name="worker_group_members")
    op.drop_table("worker_group_members")
    op.drop_table("worker_groups")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_projects_id_organization_id"), type_="unique")
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.drop_index("ix_workers_organization_id_id")
        batch_op.drop_constraint(batch_op.f("uq_workers_id_organization_id"), type_="unique")
        batch_op.drop_constraint(batch_op.f("fk_workers_organization_id_organizations"), type_="foreignkey")
        batch_op.drop_column("deactivated_at")
        batch_op.drop_column("organization_id")
