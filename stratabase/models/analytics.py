"""Product-analytics aggregates, refreshed by ``analytics.aggregate`` from ``user_events``.

The analytics routes read only these tables: a dashboard never scans the raw events. Each
row is one (organization, day, …) total, recomputed whole for the days the job covers, so
running the job twice gives the same numbers.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from stratabase.db.base import Base, IdMixin
from stratabase.db.types import BigIntId, utcnow


class DailyActiveUsers(IdMixin, Base):
    """How many members of an organization sent at least one event that day (UTC)."""

    __tablename__ = "analytics_daily_users"
    __table_args__ = (
        Index("uq_analytics_daily_users_org_date", "organization_id", "date", unique=True),
    )

    organization_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    date: Mapped[date] = mapped_column(Date)
    active_users: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DailyEventCount(IdMixin, Base):
    """Events of one type sent by an organization's members that day, and by how many."""

    __tablename__ = "analytics_daily_events"
    __table_args__ = (
        Index(
            "uq_analytics_daily_events_org_date_type",
            "organization_id",
            "date",
            "event_type",
            unique=True,
        ),
    )

    organization_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    date: Mapped[date] = mapped_column(Date)
    event_type: Mapped[str] = mapped_column(String(60))
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    users: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EpisodeReadingDaily(IdMixin, Base):
    """Opens and reading time of one episode that day, by any reader, for its organization."""

    __tablename__ = "analytics_episode_reading"
    __table_args__ = (
        Index("uq_analytics_episode_reading_episode_date", "episode_id", "date", unique=True),
        Index("ix_analytics_episode_reading_org_date", "organization_id", "date"),
    )

    organization_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    episode_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("episodes.id", ondelete="CASCADE"))
    date: Mapped[date] = mapped_column(Date)
    opens: Mapped[int] = mapped_column(BigInteger, default=0)
    readers: Mapped[int] = mapped_column(Integer, default=0)
    #: Seconds, summed over the day's ``episode_opened`` events.
    reading_time: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
