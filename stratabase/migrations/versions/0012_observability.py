"""Observability: where a slow query came from, and the request that enqueued a job.

``query_logs`` gains ``origin`` (route template or ``job:<task>``) and ``request_id``;
``jobs`` gains ``request_id`` (the ``X-Request-ID`` of the request that enqueued it), so
a job's log lines and slow queries can be tied to the request. See docs/observability.md.

Revision ID: 0012
Revises: 0013
Create Date: 2026-12-07 23:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN (SQLite >= 3.35 has both): no table rebuild, so the tables keep
    # the exact definitions revision 0008 expects when the history is walked down and up.
    op.add_column("query_logs", sa.Column("origin", sa.String(length=200), nullable=True))
    op.add_column("query_logs", sa.Column("request_id", sa.String(length=128), nullable=True))
    op.add_column("jobs", sa.Column("request_id", sa.String(length=128), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "request_id")
    op.drop_column("query_logs", "request_id")
    op.drop_column("query_logs", "origin")
