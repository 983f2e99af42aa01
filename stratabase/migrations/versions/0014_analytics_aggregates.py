"""Product analytics: the daily aggregates ``analytics.aggregate`` refreshes from events.

``analytics_daily_users`` (active members per organization and day),
``analytics_daily_events`` (events per organization, day and type) and
``analytics_episode_reading`` (opens, readers and reading time per episode and day). The
analytics routes read only these; the raw ``user_events`` are never scanned to answer.

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-07 23:10:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import stratabase.db.types

revision: str = "0014"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _table(name: str, *columns: sa.Column[Any] | sa.ForeignKeyConstraint) -> None:
    op.create_table(
        name,
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("organization_id", _ID, nullable=False),
        *columns,
        sa.Column("updated_at", stratabase.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f(f"fk_{name}_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sqlite_autoincrement=True,
    )


def upgrade() -> None:
    _table(
        "analytics_daily_users",
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("active_users", sa.Integer(), nullable=False),
    )
    op.create_index(
        "uq_analytics_daily_users_org_date",
        "analytics_daily_users",
        ["organization_id", "date"],
        unique=True,
    )
    _table(
        "analytics_daily_events",
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("event_type", sa.String(length=60), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
    )
    op.create_index(
        "uq_analytics_daily_events_org_date_type",
        "analytics_daily_events",
        ["organization_id", "date", "event_type"],
        unique=True,
    )
    _table(
        "analytics_episode_reading",
        sa.Column("episode_id", _ID, nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("opens", sa.BigInteger(), nullable=False),
        sa.Column("readers", sa.Integer(), nullable=False),
        sa.Column("reading_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["episode_id"],
            ["episodes.id"],
            name=op.f("fk_analytics_episode_reading_episode_id_episodes"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "uq_analytics_episode_reading_episode_date",
        "analytics_episode_reading",
        ["episode_id", "date"],
        unique=True,
    )
    op.create_index(
        "ix_analytics_episode_reading_org_date",
        "analytics_episode_reading",
        ["organization_id", "date"],
    )


def downgrade() -> None:
    op.drop_index("ix_analytics_episode_reading_org_date", table_name="analytics_episode_reading")
    op.drop_index(
        "uq_analytics_episode_reading_episode_date", table_name="analytics_episode_reading"
    )
    op.drop_table("analytics_episode_reading")
    op.drop_index("uq_analytics_daily_events_org_date_type", table_name="analytics_daily_events")
    op.drop_table("analytics_daily_events")
    op.drop_index("uq_analytics_daily_users_org_date", table_name="analytics_daily_users")
    op.drop_table("analytics_daily_users")
