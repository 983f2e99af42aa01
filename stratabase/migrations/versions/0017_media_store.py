"""Media store: uploaded images and videos (content-addressed) and their attachment to posts.

``media_objects`` holds one row per user and SHA-256 (the bytes live once in the media
store, see ``stratabase.media``); ``post_media`` attaches them to posts (RESTRICT: an
attached upload cannot be deleted).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 23:44:12.337166
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import stratabase.db.types

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media_objects",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("thumbnail_key", sa.String(length=200), nullable=True),
        sa.Column("probed_at", stratabase.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column(
            "created_at",
            stratabase.db.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('image', 'video')", name=op.f("ck_media_objects_kind_known")),
        sa.CheckConstraint(
            "duration_seconds IS NULL OR duration_seconds >= 0",
            name=op.f("ck_media_objects_duration_nonneg"),
        ),
        sa.CheckConstraint(
            "height IS NULL OR height > 0", name=op.f("ck_media_objects_height_positive")
        ),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_media_objects_size_nonneg")),
        sa.CheckConstraint(
            "width IS NULL OR width > 0", name=op.f("ck_media_objects_width_positive")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_media_objects_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_objects")),
        sa.UniqueConstraint("owner_id", "sha256", name=op.f("uq_media_objects_owner_id_sha256")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("media_objects", schema=None) as batch_op:
        batch_op.create_index("ix_media_objects_sha256", ["sha256"], unique=False)

    op.create_table(
        "post_media",
        sa.Column("post_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("media_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint("position >= 0", name=op.f("ck_post_media_position_nonneg")),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media_objects.id"],
            name=op.f("fk_post_media_media_id_media_objects"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_post_media_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("post_id", "media_id", name=op.f("pk_post_media")),
    )
    with op.batch_alter_table("post_media", schema=None) as batch_op:
        batch_op.create_index("ix_post_media_media_id", ["media_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("post_media", schema=None) as batch_op:
        batch_op.drop_index("ix_post_media_media_id")

    op.drop_table("post_media")
    with op.batch_alter_table("media_objects", schema=None) as batch_op:
        batch_op.drop_index("ix_media_objects_sha256")

    op.drop_table("media_objects")
