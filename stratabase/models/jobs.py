"""The durable job queue's one table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from stratabase.db.base import Base, IdMixin, TimestampsMixin
from stratabase.db.types import enum_column_type, utcnow
from stratabase.enums import JobStatus

_READY = text("status = 'queued'")
_ACTIVE = text("status IN ('queued', 'running')")
_RUNNING = text("status = 'running'")


class Job(IdMixin, TimestampsMixin, Base):
    """A durable job: its task, payload, schedule, attempts, lease and outcome."""

    __tablename__ = "jobs"
    __table_args__ = (
        # Claims scan only ready jobs, in claim order.
        Index(
            "ix_jobs_ready",
            "queue",
            "priority",
            "run_at",
            "id",
            sqlite_where=_READY,
            postgresql_where=_READY,
        ),
        # Dedup while a job with the key is queued or running.
        Index(
            "uq_jobs_unique_key_active",
            "unique_key",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
        # The reaper finds expired leases without scanning finished jobs.
        Index(
            "ix_jobs_lease_expires_at",
            "lease_expires_at",
            sqlite_where=_RUNNING,
            postgresql_where=_RUNNING,
        ),
        Index("ix_jobs_status_finished_at", "status", "finished_at"),
        CheckConstraint("attempts >= 0", name="attempts_nonneg"),
        CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
    )

    queue: Mapped[str] = mapped_column(String(60), default="default")
    task: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The ``X-Request-ID`` of the request that enqueued it (migration 0012), if any.
    request_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[JobStatus] = mapped_column(
        enum_column_type(JobStatus, "status"), default=JobStatus.QUEUED
    )
    #: Lower runs first.
    priority: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    #: Last error with its traceback.
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column()
    unique_key: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
