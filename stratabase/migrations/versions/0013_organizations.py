"""Organizations for the publishing studio (P2.4): members with roles, email invitations
(token stored hashed), plan limits, planning notes attached to episodes.

``plan_limits`` gets one row per plan: active projects (seed 003's project-based pricing)
and the daily token quota an organization of that plan starts with.

Revision ID: 0013
Revises: 0015
Create Date: 2026-12-07 23:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import stratabase.db.types

revision: str = "0013"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ROLES = ("owner", "admin", "member")
_PLANS = ("free", "pro", "enterprise")
#: plan, max active projects, daily token quota of a new organization.
DEFAULT_LIMITS = (("free", 3, 50_000), ("pro", 25, 1_000_000), ("enterprise", 250, 10_000_000))


def _enum(values: Sequence[str], name: str, length: int) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def _created_at() -> sa.Column[object]:
    return sa.Column(
        "created_at",
        stratabase.db.types.UTCDateTime(timezone=True),
        server_default=sa.func.now(),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "organization_members",
        sa.Column("organization_id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("role", _enum(_ROLES, "role", 10), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_members_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_organization_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "user_id", name=op.f("pk_organization_members")),
    )
    op.create_index(
        "ix_organization_members_user_id",
        "organization_members",
        ["user_id", "organization_id"],
        unique=False,
    )
    op.create_table(
        "organization_invitations",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("organization_id", _ID, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", _enum(_ROLES, "role", 10), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by", _ID, nullable=True),
        sa.Column(
            "status",
            _enum(("pending", "accepted", "declined", "revoked"), "status", 12),
            nullable=False,
        ),
        sa.Column("expires_at", stratabase.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("responded_at", stratabase.db.types.UTCDateTime(timezone=True), nullable=True),
        _created_at(),
        sa.CheckConstraint(
            "email = lower(email)", name=op.f("ck_organization_invitations_email_lowercase")
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["users.id"],
            name=op.f("fk_organization_invitations_invited_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_invitations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_organization_invitations_token_hash")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "uq_organization_invitations_pending",
        "organization_invitations",
        ["organization_id", "email"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    limits = op.create_table(
        "plan_limits",
        sa.Column("plan", _enum(_PLANS, "plan", 14), nullable=False),
        sa.Column("max_active_projects", sa.Integer(), nullable=False),
        sa.Column("token_quota", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "max_active_projects >= 0", name=op.f("ck_plan_limits_max_active_projects_nonneg")
        ),
        sa.CheckConstraint("token_quota >= 0", name=op.f("ck_plan_limits_token_quota_nonneg")),
        sa.PrimaryKeyConstraint("plan", name=op.f("pk_plan_limits")),
    )
    assert limits is not None
    op.bulk_insert(
        limits,
        [
            {"plan": plan, "max_active_projects": projects, "token_quota": quota}
            for plan, projects, quota in DEFAULT_LIMITS
        ],
    )
    op.create_table(
        "planning_note_episodes",
        sa.Column("note_id", _ID, nullable=False),
        sa.Column("episode_id", _ID, nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["episode_id"],
            ["episodes.id"],
            name=op.f("fk_planning_note_episodes_episode_id_episodes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["note_id"],
            ["planning_notes.id"],
            name=op.f("fk_planning_note_episodes_note_id_planning_notes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("note_id", name=op.f("pk_planning_note_episodes")),
    )
    op.create_index(
        "ix_planning_note_episodes_episode_id",
        "planning_note_episodes",
        ["episode_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_planning_note_episodes_episode_id", table_name="planning_note_episodes")
    op.drop_table("planning_note_episodes")
    op.drop_table("plan_limits")
    op.drop_index("uq_organization_invitations_pending", table_name="organization_invitations")
    op.drop_table("organization_invitations")
    op.drop_index("ix_organization_members_user_id", table_name="organization_members")
    op.drop_table("organization_members")
