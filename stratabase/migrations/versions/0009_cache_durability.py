"""Cache durability: the ``cache_invalidations`` outbox and the ``cache_generation`` counter.

``cache_invalidations`` holds the tags and keys a write makes stale, inserted in the write's
own transaction and deleted once delivered to Redis; rows left behind (writer died, Redis
down) are replayed by the next process that reaches Redis. ``cache_generation`` is a
one-row counter the CLI bumps after changing data behind the API; serving processes flush
their in-process cache when it moves. See docs/cache.md.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import stratabase.db.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "cache_invalidations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tags", _JSON, nullable=False),
        sa.Column("keys", _JSON, nullable=False),
        sa.Column("created_at", stratabase.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cache_invalidations")),
    )
    op.create_index(
        "ix_cache_invalidations_created_at", "cache_invalidations", ["created_at"], unique=False
    )
    op.create_table(
        "cache_generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", stratabase.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_cache_generation_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cache_generation")),
    )


def downgrade() -> None:
    op.drop_table("cache_generation")
    op.drop_index("ix_cache_invalidations_created_at", table_name="cache_invalidations")
    op.drop_table("cache_invalidations")
