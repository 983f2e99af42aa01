"""Reports from users, moderator reviews, and the audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AwareDatetime, Field

from stratabase.enums import ReportReason, ReportStatus, ReportTarget, ReviewDecision, Severity
from stratabase.schemas.common import HttpUrlStr, Id, InputModel, ReadModel

EvidenceUrls = Annotated[list[HttpUrlStr], Field(max_length=10)]


class ReportCreate(InputModel):
    """A user's report of a post, comment or user; it joins the moderation queue as open."""

    target_type: ReportTarget
    target_id: Id
    reason: ReportReason
    severity: Severity = Severity.MEDIUM
    details: str | None = Field(default=None, max_length=5_000)
    evidence_urls: EvidenceUrls = Field(default_factory=list)


class ReviewCreate(InputModel):
    """A moderator's decision on a report; the report id comes from the URL path."""

    decision: ReviewDecision
    action_taken: str | None = Field(default=None, max_length=200)
    notes: str | None = Field(default=None, max_length=5_000)


class ReportRead(ReadModel):
    id: int
    reporter_id: int
    target_type: ReportTarget
    target_id: int
    reason: ReportReason
    severity: Severity
    status: ReportStatus
    details: str | None = None
    evidence_urls: list[str] = Field(default_factory=list)
    created_at: AwareDatetime
    updated_at: AwareDatetime


class ReviewRead(ReadModel):
    id: int
    report_id: int
    reviewer_id: int
    decision: ReviewDecision
    action_taken: str | None = None
    notes: str | None = None
    created_at: AwareDatetime


class AuditLogRead(ReadModel):
    """One audit entry: who (``actor_id``, None for the system) did what to which resource."""

    id: int
    actor_id: int | None = None
    action: str
    resource_type: str
    resource_id: str | None = None
    changes: dict[str, Any] = Field(default_factory=dict)
    ip: str | None = None
    created_at: AwareDatetime
