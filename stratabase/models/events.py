"""Behavioural events, daily usage aggregates, the change-feed outbox, slow-query log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Date, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stratabase.db.base import Base, CreatedAtMixin, IdMixin
from stratabase.db.types import BigIntId, utcnow


class UserEvent(IdMixin, CreatedAtMixin, Base):
    """A flexible event (``episode_opened``…) instead of one boolean column per fact."""

    __tablename__ = "user_events"
    __table_args__ = (
        Index("ix_user_events_user_id", "user_id", "created_at"),
        Index("ix_user_events_event_type", "event_type", "created_at"),
    )

    user_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE")
    )
    event_type: Mapped[str] = mapped_column(String(60))
    event_data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class TokenUsageDaily(IdMixin, Base):
    """Per-organization daily totals: quota checks read this, never the raw events."""

    __tablename__ = "token_usage_daily"
    __table_args__ = (
        CheckConstraint(
            "tokens_in >= 0 AND tokens_out >= 0 AND cost_minor >= 0", name="totals_nonneg"
        ),
        Index("uq_token_usage_daily_organization_id_date", "organization_id", "date", unique=True),
    )

    organization_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    date: Mapped[date] = mapped_column(Date)
    tokens_in: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens_out: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Cost in minor units (cents).
    cost_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChangeEvent(IdMixin, CreatedAtMixin, Base):
    """The outbox the change feed reads, written in the same transaction as the change."""

    __tablename__ = "change_events"
    __table_args__ = (Index("ix_change_events_topic", "topic", "id"),)

    topic: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)


class QueryLog(IdMixin, CreatedAtMixin, Base):
    """A slow statement, kept for operators (``stratabase queries slow``): sampled, rate
    limited and pruned by ``maintenance.prune`` (``observability/slowlog.py``)."""

    __tablename__ = "query_logs"
    __table_args__ = (
        Index("ix_query_logs_created_at", "created_at"),
        Index("ix_query_logs_duration_ms", "duration_ms"),
    )

    #: Normalised SQL: literals replaced, no parameter values.
    query: Mapped[str] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)
    user_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="SET NULL")
    )
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    #: Route template (``GET /v1/posts/{post_id}``) or ``job:<task>`` (migration 0012).
    origin: Mapped[str | None] = mapped_column(String(200))
    #: The request's ``X-Request-ID`` (or the one we made up), to find its log lines.
    request_id: Mapped[str | None] = mapped_column(String(128))


class SystemState(Base):
    """Small key/value facts about this database: current seed theme, seed in progress…"""

    __tablename__ = "system_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
