"""Moderation workflow and a tamper-evident audit log.

- ``content_reports`` gains a claim lease (``claimed_by``, ``claimed_until``): a moderator
  claims a report with one conditional UPDATE, so two never review the same one.
- ``moderation_reviews`` gains ``target_state`` (what an overturned appeal restores).
- ``moderation_appeals`` (one per decision), ``user_sanctions`` (suspensions that end by
  themselves, bans) and ``moderation_holds`` (content hidden by the report threshold).
- ``audit_logs`` gains ``user_agent``, ``request_id`` and the hash chain (``prev_hash``,
  ``row_hash``); on PostgreSQL a trigger refuses every UPDATE and DELETE of it.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 23:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _when(name: str, *, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _created() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def _updated() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(
        *values,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(v) for v in values) + 4,
    )


APPEND_ONLY = """
CREATE OR REPLACE FUNCTION sb_audit_logs_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    op.add_column("content_reports", sa.Column("claimed_by", sa.BigInteger(), nullable=True))
    op.add_column("content_reports", _when("claimed_until"))
    op.add_column("moderation_reviews", sa.Column("subject_id", sa.BigInteger(), nullable=True))
    op.add_column("moderation_reviews", sa.Column("target_state", _JSON, nullable=True))
    op.create_index("ix_moderation_reviews_subject_id", "moderation_reviews", ["subject_id", "id"])
    op.add_column("audit_logs", sa.Column("user_agent", sa.String(500), nullable=True))
    op.add_column("audit_logs", sa.Column("request_id", sa.String(100), nullable=True))
    op.add_column("audit_logs", sa.Column("prev_hash", sa.String(64), nullable=True))
    op.add_column("audit_logs", sa.Column("row_hash", sa.String(64), nullable=True))
    op.create_index("ix_audit_logs_action", "audit_logs", ["action", "created_at"])

    op.create_table(
        "moderation_appeals",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("review_id", _ID, nullable=False),
        sa.Column("appellant_id", _ID, nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("status", _enum("status", "open", "upheld", "overturned"), nullable=False),
        sa.Column("reviewer_id", sa.BigInteger(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        _when("decided_at"),
        _created(),
        _updated(),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["moderation_reviews.id"],
            name=op.f("fk_moderation_appeals_review_id_moderation_reviews"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["appellant_id"],
            ["users.id"],
            name=op.f("fk_moderation_appeals_appellant_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_appeals")),
        sa.UniqueConstraint("review_id", name="uq_moderation_appeals_review_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_moderation_appeals_queue", "moderation_appeals", ["status", "created_at"])
    op.create_index("ix_moderation_appeals_appellant_id", "moderation_appeals", ["appellant_id"])
    op.create_table(
        "user_sanctions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("review_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", _enum("kind", "suspend", "ban"), nullable=False),
        _when("ends_at"),
        _when("lifted_at"),
        _created(),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_sanctions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sanctions")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_user_sanctions_user_id", "user_sanctions", ["user_id"])
    op.create_index("ix_user_sanctions_due", "user_sanctions", ["lifted_at", "ends_at"])
    op.create_table(
        "moderation_holds",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("target_type", sa.String(20), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("previous", _JSON, nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_holds")),
        sa.UniqueConstraint("target_type", "target_id", name="uq_moderation_holds_target"),
        sqlite_autoincrement=True,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY)
        op.execute(
            "CREATE TRIGGER audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs "
            "FOR EACH ROW EXECUTE FUNCTION sb_audit_logs_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_logs_append_only ON audit_logs")
        op.execute("DROP FUNCTION IF EXISTS sb_audit_logs_append_only()")
    op.drop_table("moderation_holds")
    op.drop_index("ix_user_sanctions_due", table_name="user_sanctions")
    op.drop_index("ix_user_sanctions_user_id", table_name="user_sanctions")
    op.drop_table("user_sanctions")
    op.drop_index("ix_moderation_appeals_appellant_id", table_name="moderation_appeals")
    op.drop_index("ix_moderation_appeals_queue", table_name="moderation_appeals")
    op.drop_table("moderation_appeals")
    op.drop_index("ix_audit_logs_action", table_name="audit_logs")
    for column in ("row_hash", "prev_hash", "request_id", "user_agent"):
        op.drop_column("audit_logs", column)
    op.drop_index("ix_moderation_reviews_subject_id", table_name="moderation_reviews")
    op.drop_column("moderation_reviews", "target_state")
    op.drop_column("moderation_reviews", "subject_id")
    op.drop_column("content_reports", "claimed_until")
    op.drop_column("content_reports", "claimed_by")
