"""Organizations, users and their sign-in sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stratabase.db.base import Base, IdMixin, TimestampsMixin
from stratabase.db.types import BigIntId, enum_column_type
from stratabase.enums import Plan, Role, UserStatus


class Organization(IdMixin, TimestampsMixin, Base):
    """A team of users sharing a plan (and a daily generation quota)."""

    __tablename__ = "organizations"
    __table_args__ = (CheckConstraint("token_quota >= 0", name="token_quota_nonneg"),)

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    plan: Mapped[Plan] = mapped_column(enum_column_type(Plan, "plan"), default=Plan.FREE)
    #: Tokens the organization may spend per day on generation.
    token_quota: Mapped[int] = mapped_column(BigInteger, default=0)


class User(IdMixin, TimestampsMixin, Base):
    """An account: profile, role, status and its argon2id password hash."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        Index("ix_users_organization_id", "organization_id"),
    )

    #: Stored lower-cased so uniqueness is case-insensitive on both backends.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    avatar_url: Mapped[str | None] = mapped_column(String(1000))
    bio: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    role: Mapped[Role] = mapped_column(enum_column_type(Role, "role"), default=Role.USER)
    status: Mapped[UserStatus] = mapped_column(
        enum_column_type(UserStatus, "status"), default=UserStatus.ACTIVE
    )
    #: argon2id hash; None for accounts that cannot sign in with a password.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    organization_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("organizations.id", ondelete="SET NULL")
    )


class UserSession(IdMixin, Base):
    """A bearer-token sign-in. Only the token's SHA-256 is stored."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_user_id", "user_id"),
        Index("ix_sessions_expires_at", "expires_at"),
    )

    user_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    device: Mapped[str | None] = mapped_column(String(100))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
