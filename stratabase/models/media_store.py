"""Uploaded media (content-addressed blobs with their metadata) and their attachment to posts.

A :class:`MediaObject` is one user's upload: its bytes live in the media store under the
key derived from their SHA-256, so the same bytes uploaded twice (by anyone) are stored
once; one user uploading the same bytes twice gets the same row back. :data:`post_media`
attaches uploads to posts, in order; an attached upload cannot be deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from stratabase.db.base import Base, CreatedAtMixin, IdMixin, metadata
from stratabase.db.types import BigIntId


class MediaObject(IdMixin, CreatedAtMixin, Base):
    """An uploaded image or video: who uploaded it, where its bytes are, what they are."""

    __tablename__ = "media_objects"
    __table_args__ = (
        UniqueConstraint("owner_id", "sha256"),
        Index("ix_media_objects_sha256", "sha256"),
        CheckConstraint("kind IN ('image', 'video')", name="kind_known"),
        CheckConstraint("size_bytes >= 0", name="size_nonneg"),
        CheckConstraint("width IS NULL OR width > 0", name="width_positive"),
        CheckConstraint("height IS NULL OR height > 0", name="height_positive"),
        CheckConstraint(
            "duration_seconds IS NULL OR duration_seconds >= 0", name="duration_nonneg"
        ),
    )

    owner_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("users.id", ondelete="CASCADE"))
    #: Hex SHA-256 of the bytes: the content address, and the ETag they are served with.
    sha256: Mapped[str] = mapped_column(String(64))
    #: The key of the bytes in the media store (derived from ``sha256``).
    storage_key: Mapped[str] = mapped_column(String(200))
    #: ``image`` or ``video``, sniffed from the bytes.
    kind: Mapped[str] = mapped_column(String(10))
    #: The MIME type sniffed from the bytes (never the one the client declared).
    mime_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    #: The store key of the thumbnail (images), None when there is none.
    thumbnail_key: Mapped[str | None] = mapped_column(String(200))
    #: When the video metadata was read (None: waiting for ``media.probe``).
    probed_at: Mapped[datetime | None]
    filename: Mapped[str | None] = mapped_column(String(255))


post_media = Table(
    "post_media",
    metadata,
    Column("post_id", BigIntId, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "media_id",
        BigIntId,
        ForeignKey("media_objects.id", ondelete="RESTRICT"),
        primary_key=True,
    ),
    Column("position", Integer, nullable=False, default=0),
    Index("ix_post_media_media_id", "media_id"),
    CheckConstraint("position >= 0", name="position_nonneg"),
)

__all__ = ["MediaObject", "post_media"]
