"""Trust and safety beyond the seed's tables: appeals, sanctions and auto-hide holds.

The seed's ``content_reports``, ``moderation_reviews`` and ``audit_logs`` live in
``models/moderation.py``; these are the tables the moderation workflow adds (migration 0015).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from stratabase.db.base import Base, CreatedAtMixin, IdMixin, TimestampsMixin
from stratabase.db.types import BigIntId, enum_column_type

__all__ = ["AppealStatus", "ModerationAppeal", "ModerationHold", "SanctionKind", "UserSanction"]


class AppealStatus(StrEnum):
    """Where an author's appeal of a decision is."""

    OPEN = "open"
    #: Another moderator confirmed the decision.
    UPHELD = "upheld"
    #: Another moderator reversed it: the content or the account is restored.
    OVERTURNED = "overturned"


class SanctionKind(StrEnum):
    """A sanction on an account."""

    #: Suspended until ``ends_at``; lifted by the ``moderation.lift_suspensions`` job.
    SUSPEND = "suspend"
    #: Suspended with no end.
    BAN = "ban"


class ModerationAppeal(IdMixin, TimestampsMixin, Base):
    """An author's appeal of one decision (one per decision), decided by another moderator."""

    __tablename__ = "moderation_appeals"
    __table_args__ = (
        UniqueConstraint("review_id", name="uq_moderation_appeals_review_id"),
        Index("ix_moderation_appeals_queue", "status", "created_at"),
        Index("ix_moderation_appeals_appellant_id", "appellant_id"),
    )

    review_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("moderation_reviews.id", ondelete="CASCADE")
    )
    appellant_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("users.id", ondelete="CASCADE"))
    statement: Mapped[str] = mapped_column(Text)
    status: Mapped[AppealStatus] = mapped_column(
        enum_column_type(AppealStatus, "status"), default=AppealStatus.OPEN
    )
    #: The moderator who decided it (never the one who made the decision appealed).
    reviewer_id: Mapped[int | None] = mapped_column(BigInteger)
    notes: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column()


class UserSanction(IdMixin, CreatedAtMixin, Base):
    """A suspension (until ``ends_at``) or a ban (no end) of an account by a decision."""

    __tablename__ = "user_sanctions"
    __table_args__ = (
        Index("ix_user_sanctions_user_id", "user_id"),
        Index("ix_user_sanctions_due", "lifted_at", "ends_at"),
    )

    user_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("users.id", ondelete="CASCADE"))
    #: The review that imposed it (None: imposed outside the workflow).
    review_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[SanctionKind] = mapped_column(enum_column_type(SanctionKind, "kind"))
    ends_at: Mapped[datetime | None] = mapped_column()
    #: When it stopped applying (its end passed, or an appeal overturned it).
    lifted_at: Mapped[datetime | None] = mapped_column()


class ModerationHold(IdMixin, CreatedAtMixin, Base):
    """Content hidden automatically by too many open reports, pending review; ``previous``
    is what a dismissal restores."""

    __tablename__ = "moderation_holds"
    __table_args__ = (
        UniqueConstraint("target_type", "target_id", name="uq_moderation_holds_target"),
    )

    target_type: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[int] = mapped_column(BigInteger)
    previous: Mapped[dict[str, Any]] = mapped_column(default=dict)
