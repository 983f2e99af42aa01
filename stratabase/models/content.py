"""Categories, posts with content blocks, tags, statistics, media, comments, highlights."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from stratabase.db.base import Base, CreatedAtMixin, IdMixin, TimestampsMixin, metadata
from stratabase.db.types import BigIntId, enum_column_type
from stratabase.enums import MediaType, PostKind, PostStatus


class Category(IdMixin, CreatedAtMixin, Base):
    """A theme's section posts are filed under (a category feed)."""

    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("theme", "slug"),)

    #: The seed theme the category belongs to (politics, tech, science, …).
    theme: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    slug: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)


class Post(IdMixin, TimestampsMixin, Base):
    """An article, note, video or episode, with its blocks and counters."""

    __tablename__ = "posts"
    __table_args__ = (
        Index("ix_posts_author_id_created_at", "author_id", "created_at", "id"),
        Index("ix_posts_status_published_at", "status", "published_at", "id"),
        Index("ix_posts_category_id_published_at", "category_id", "published_at", "id"),
        CheckConstraint(
            "status <> 'published' OR published_at IS NOT NULL", name="published_has_date"
        ),
    )

    author_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("users.id", ondelete="CASCADE"))
    category_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("categories.id", ondelete="SET NULL")
    )
    kind: Mapped[PostKind] = mapped_column(enum_column_type(PostKind, "kind"))
    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(220), unique=True)
    summary: Mapped[str | None] = mapped_column(String(500))
    #: Ordered content blocks (paragraph, heading, quote, list, image, code, embed).
    content_blocks: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[PostStatus] = mapped_column(
        enum_column_type(PostStatus, "status"), default=PostStatus.DRAFT
    )
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    published_at: Mapped[datetime | None]


class Tag(IdMixin, Base):
    """A label posts share; its slug is unique."""

    __tablename__ = "tags"

    name: Mapped[str] = mapped_column(String(50))
    slug: Mapped[str] = mapped_column(String(60), unique=True)


post_tags = Table(
    "post_tags",
    metadata,
    Column("post_id", BigIntId, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", BigIntId, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_post_tags_tag_id", "tag_id", "post_id"),
)


class PostStats(Base):
    """Per-post counters, kept exact by the writes that change them."""

    __tablename__ = "post_stats"
    __table_args__ = (
        CheckConstraint("views >= 0", name="views_nonneg"),
        CheckConstraint("likes >= 0", name="likes_nonneg"),
        CheckConstraint("shares >= 0", name="shares_nonneg"),
        CheckConstraint("comments >= 0", name="comments_nonneg"),
        Index("ix_post_stats_likes", "likes"),
        Index("ix_post_stats_views", "views"),
    )

    post_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    views: Mapped[int] = mapped_column(BigInteger, default=0)
    likes: Mapped[int] = mapped_column(BigInteger, default=0)
    shares: Mapped[int] = mapped_column(BigInteger, default=0)
    comments: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime | None]


class Media(IdMixin, CreatedAtMixin, Base):
    """A file attached to a post (image, video, audio, document)."""

    __tablename__ = "media"
    __table_args__ = (
        UniqueConstraint("post_id", "position"),
        CheckConstraint("size_bytes IS NULL OR size_bytes >= 0", name="size_nonneg"),
        CheckConstraint("width IS NULL OR width > 0", name="width_positive"),
        CheckConstraint("height IS NULL OR height > 0", name="height_positive"),
        CheckConstraint(
            "duration_seconds IS NULL OR duration_seconds >= 0", name="duration_nonneg"
        ),
        CheckConstraint("position >= 0", name="position_nonneg"),
    )

    post_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("posts.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(1000))
    type: Mapped[MediaType] = mapped_column(enum_column_type(MediaType, "type"))
    mime_type: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    alt: Mapped[str | None] = mapped_column(String(500))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Comment(IdMixin, TimestampsMixin, Base):
    """A comment; replies point at their parent and at the top-level comment of the thread.

    ``root_id`` lets a page of threads load all its replies in one statement. Deletion is
    soft (``deleted_at``) so replies keep their place.
    """

    __tablename__ = "comments"
    __table_args__ = (
        Index(
            "ix_comments_post_id_top_level",
            "post_id",
            "created_at",
            "id",
            sqlite_where=text("parent_id IS NULL"),
            postgresql_where=text("parent_id IS NULL"),
        ),
        Index("ix_comments_root_id", "root_id", "created_at", "id"),
        Index("ix_comments_parent_id", "parent_id"),
        Index("ix_comments_author_id", "author_id", "created_at"),
        CheckConstraint("like_count >= 0", name="like_count_nonneg"),
        CheckConstraint("depth >= 0", name="depth_nonneg"),
        CheckConstraint("(parent_id IS NULL) = (root_id IS NULL)", name="reply_has_root"),
    )

    post_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("posts.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("users.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("comments.id", ondelete="CASCADE")
    )
    root_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("comments.id", ondelete="CASCADE")
    )
    depth: Mapped[int] = mapped_column(Integer, default=0)
    body: Mapped[str] = mapped_column(Text)
    like_count: Mapped[int] = mapped_column(BigInteger, default=0)
    deleted_at: Mapped[datetime | None]


class Highlight(IdMixin, CreatedAtMixin, Base):
    """A passage of a post a user marked."""

    __tablename__ = "highlights"
    __table_args__ = (
        Index("ix_highlights_user_id", "user_id", "created_at"),
        Index("ix_highlights_post_id", "post_id"),
        CheckConstraint("block_index >= 0", name="block_index_nonneg"),
        CheckConstraint("start_offset >= 0 AND end_offset > start_offset", name="offsets_ordered"),
    )

    user_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("users.id", ondelete="CASCADE"))
    post_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("posts.id", ondelete="CASCADE"))
    block_index: Mapped[int] = mapped_column(Integer)
    start_offset: Mapped[int] = mapped_column(Integer)
    end_offset: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
