"""Account self-service: single-use mailed tokens (reset, verification) and data exports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stratabase.db.base import Base, IdMixin
from stratabase.db.types import BigIntId, PortableJSON, utcnow


class AccountToken(IdMixin, Base):
    """A password-reset or email-verification token. Only its SHA-256 is stored; it is
    good once (``used_at``) and until ``expires_at``. A verification token names the email
    it verifies: the account's email is verified while a used one matches it."""

    __tablename__ = "account_tokens"
    __table_args__ = (
        CheckConstraint("purpose IN ('reset', 'verify')", name="purpose_known"),
        Index("ix_account_tokens_user_id", "user_id", "purpose"),
    )

    user_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(10))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class AccountExport(IdMixin, Base):
    """A data export of one account, built by the ``account.export`` job; the JSON document
    is kept in ``data`` once done, readable by its owner only."""

    __tablename__ = "account_exports"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'done', 'failed')", name="status_known"),
        Index("ix_account_exports_user_id", "user_id", "id"),
    )

    user_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    data: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
