"""Observability: where a slow query came from, and the request that enqueued a job.

``query_logs`` gains ``origin`` (route template or ``job:<task>``) and ``request_id``;
``jobs`` gains ``request_id`` (the ``X-Request-ID`` of the request that enqueued it), so
a job's log lines and slow queries can be tied to the request. See docs/observability.md.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-07 23:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("query_logs") as batch:
        batch.add_column(sa.Column("origin", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("request_id", sa.String(length=128), nullable=True))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("request_id", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("request_id")
    with op.batch_alter_table("query_logs") as batch:
        batch.drop_column("request_id")
        batch.drop_column("origin")
