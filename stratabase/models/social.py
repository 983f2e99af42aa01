"""The social graph: follows, blocks, mutes (ordered pairs) and likes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from stratabase.db.base import Base
from stratabase.db.types import BigIntId, enum_column_type, utcnow
from stratabase.enums import LikeTarget


class Follow(Base):
    """A user follows another: their posts reach the follower's home feed."""

    __tablename__ = "follows"
    __table_args__ = (
        CheckConstraint("follower_id <> followee_id", name="no_self"),
        Index("ix_follows_followee_id", "followee_id", "created_at"),
    )

    follower_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    followee_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Block(Base):
    """A user blocks another: neither sees the other's posts, transfers between them are refused."""

    __tablename__ = "blocks"
    __table_args__ = (
        CheckConstraint("blocker_id <> blocked_id", name="no_self"),
        Index("ix_blocks_blocked_id", "blocked_id"),
    )

    blocker_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    blocked_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Mute(Base):
    """A user mutes another: their posts leave the muter's feeds, silently."""

    __tablename__ = "mutes"
    __table_args__ = (
        CheckConstraint("muter_id <> muted_id", name="no_self"),
        Index("ix_mutes_muted_id", "muted_id"),
    )

    muter_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    muted_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Like(Base):
    """A like on a post or a comment; one per user and target (the primary key)."""

    __tablename__ = "likes"
    __table_args__ = (Index("ix_likes_target", "target_type", "target_id", "created_at"),)

    user_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    target_type: Mapped[LikeTarget] = mapped_column(
        enum_column_type(LikeTarget, "target_type"), primary_key=True
    )
    target_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
