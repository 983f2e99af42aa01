"""Reports, moderator reviews and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stratabase.db.base import Base, CreatedAtMixin, IdMixin, TimestampsMixin
from stratabase.db.types import BigIntId, PortableJSON, enum_column_type
from stratabase.enums import ReportReason, ReportStatus, ReportTarget, ReviewDecision, Severity


class ContentReport(IdMixin, TimestampsMixin, Base):
    """A user's report of a post, comment or user, awaiting review."""

    __tablename__ = "content_reports"
    __table_args__ = (
        Index("ix_content_reports_queue", "status", "severity", "created_at"),
        Index("ix_content_reports_target", "target_type", "target_id"),
        Index("ix_content_reports_reporter_id", "reporter_id"),
    )

    reporter_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("users.id", ondelete="CASCADE"))
    target_type: Mapped[ReportTarget] = mapped_column(enum_column_type(ReportTarget, "target_type"))
    target_id: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[ReportReason] = mapped_column(enum_column_type(ReportReason, "reason"))
    severity: Mapped[Severity] = mapped_column(
        enum_column_type(Severity, "severity"), default=Severity.MEDIUM
    )
    status: Mapped[ReportStatus] = mapped_column(
        enum_column_type(ReportStatus, "status"), default=ReportStatus.OPEN
    )
    details: Mapped[str | None] = mapped_column(Text)
    evidence_urls: Mapped[list[Any]] = mapped_column(default=list)
    #: The moderator reviewing it, until ``claimed_until`` (a lease: then anyone may claim).
    claimed_by: Mapped[int | None] = mapped_column(BigInteger)
    claimed_until: Mapped[datetime | None] = mapped_column()


class ModerationReview(IdMixin, CreatedAtMixin, Base):
    """A moderator's decision on a report."""

    __tablename__ = "moderation_reviews"
    __table_args__ = (
        Index("ix_moderation_reviews_report_id", "report_id"),
        Index("ix_moderation_reviews_reviewer_id", "reviewer_id"),
        Index("ix_moderation_reviews_subject_id", "subject_id", "id"),
    )

    report_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("content_reports.id", ondelete="CASCADE")
    )
    reviewer_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("users.id", ondelete="RESTRICT"))
    decision: Mapped[ReviewDecision] = mapped_column(enum_column_type(ReviewDecision, "decision"))
    action_taken: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    #: The user the decision is about (the content's author, or the reported user).
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    #: The target as it was before the action (what an overturned appeal restores).
    target_state: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)


class AuditLog(IdMixin, CreatedAtMixin, Base):
    """Who did what to which resource; append-only."""

    __tablename__ = "audit_logs"
    __table_args__ = (
        Index("ix_audit_logs_resource", "resource_type", "resource_id", "created_at"),
        Index("ix_audit_logs_actor_id", "actor_id", "created_at"),
        Index("ix_audit_logs_action", "action", "created_at"),
    )

    actor_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="SET NULL")
    )
    action: Mapped[str] = mapped_column(String(100))
    resource_type: Mapped[str] = mapped_column(String(50))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    request_id: Mapped[str | None] = mapped_column(String(100))
    #: The ``row_hash`` of the row before it in the chain (None: the first, or unsealed).
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    #: SHA-256 of this row's canonical encoding and ``prev_hash`` (see ``stratabase.audit``).
    row_hash: Mapped[str | None] = mapped_column(String(64))
