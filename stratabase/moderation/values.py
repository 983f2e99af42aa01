"""What the moderation service takes and returns: inputs validated here, typed results."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

from stratabase.enums import ReportReason, ReportStatus, ReportTarget, ReviewDecision, Severity
from stratabase.models.trust import AppealStatus
from stratabase.schemas.common import InputModel

__all__ = [
    "MAX_EVIDENCE_URLS",
    "MAX_URL_LENGTH",
    "AppealCreate",
    "AppealDecision",
    "AppealRead",
    "DecisionCreate",
    "DecisionRead",
    "ModerationAction",
    "QueueItem",
    "ReportCreate",
    "ReportRead",
    "ReporterHistory",
]

#: Evidence links one report may carry, and how long each may be.
MAX_EVIDENCE_URLS = 5
MAX_URL_LENGTH = 500


class ModerationAction(StrEnum):
    """What a moderator decides about a report (stored in ``action_taken``)."""

    DISMISS = "dismiss"
    #: The content is hidden (a post: status ``hidden``; a comment: taken down).
    HIDE = "hide"
    #: The content is taken down for a rule it breaks (recorded as a strike on its author).
    REMOVE = "remove"
    #: The author is warned (a private event); the content stays or comes back.
    WARN = "warn"
    #: The author cannot write until the end of the period (lifted by a periodic job).
    SUSPEND = "suspend"
    #: The author cannot write, with no end (an appeal may lift it).
    BAN = "ban"

    @property
    def decision(self) -> ReviewDecision:
        """The seed's coarser ``decision`` column for this action."""
        return _DECISIONS[self]

    @property
    def takes_down(self) -> bool:
        """True when the content leaves public view."""
        return self in (ModerationAction.HIDE, ModerationAction.REMOVE)


_DECISIONS = {
    ModerationAction.DISMISS: ReviewDecision.DISMISS,
    ModerationAction.HIDE: ReviewDecision.REMOVE,
    ModerationAction.REMOVE: ReviewDecision.REMOVE,
    ModerationAction.WARN: ReviewDecision.WARN,
    ModerationAction.SUSPEND: ReviewDecision.SUSPEND,
    ModerationAction.BAN: ReviewDecision.SUSPEND,
}


def _check_url(url: str) -> str:
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"an evidence URL may have at most {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"evidence URLs must be absolute http(s) URLs, not {url[:60]!r}")
    if any(ch.isspace() for ch in url):
        raise ValueError("evidence URLs may not contain whitespace")
    return url


class ReportCreate(InputModel):
    """A report of a post, comment or user."""

    target_type: ReportTarget
    target_id: int = Field(ge=1, le=2**63 - 1)
    reason: ReportReason
    severity: Severity = Severity.MEDIUM
    details: str | None = Field(default=None, max_length=2000)
    evidence_urls: list[Annotated[str, Field(max_length=MAX_URL_LENGTH)]] = Field(
        default_factory=list, max_length=MAX_EVIDENCE_URLS
    )

    @field_validator("evidence_urls")
    @classmethod
    def _check_urls(cls, urls: list[str]) -> list[str]:
        return [_check_url(url.strip()) for url in urls]


class ReportRead(BaseModel):
    """A report as its reporter and moderators see it."""

    id: int
    reporter_id: int
    target_type: ReportTarget
    target_id: int
    reason: ReportReason
    severity: Severity
    status: ReportStatus
    details: str | None
    evidence_urls: list[str]
    claimed_by: int | None = None
    claimed_until: datetime | None = None
    created_at: datetime


class ReporterHistory(BaseModel):
    """How a reporter's past reports went (a hint at their reliability)."""

    total: int = 0
    open: int = 0
    resolved: int = 0
    dismissed: int = 0


class QueueItem(BaseModel):
    """A report in the review queue, with its target's content and its reporter's history."""

    report: ReportRead
    #: The target as it is now (None: it no longer exists).
    target: dict[str, Any] | None
    reporter_history: ReporterHistory
    #: Open reports on the same target (the auto-hide threshold counts these).
    open_reports_on_target: int


class DecisionCreate(InputModel):
    """A moderator's decision on a claimed report."""

    action: ModerationAction
    notes: str | None = Field(default=None, max_length=2000)
    #: Suspensions only: how long, in hours (1 hour to 1 year).
    suspend_hours: int | None = Field(default=None, ge=1, le=24 * 366)


class DecisionRead(BaseModel):
    """A decision (a review row) as moderators and the user it concerns see it."""

    id: int
    report_id: int
    reviewer_id: int
    action: ModerationAction
    decision: ReviewDecision
    notes: str | None
    subject_id: int | None
    target_type: ReportTarget
    target_id: int
    suspended_until: datetime | None = None
    created_at: datetime


class AppealCreate(InputModel):
    """The author's appeal of a decision."""

    statement: str = Field(min_length=1, max_length=4000)


class AppealDecision(InputModel):
    """Another moderator's outcome for an appeal."""

    outcome: AppealStatus
    notes: str | None = Field(default=None, max_length=2000)

    @field_validator("outcome")
    @classmethod
    def _decided(cls, outcome: AppealStatus) -> AppealStatus:
        if outcome == AppealStatus.OPEN:
            raise ValueError("an appeal is decided as 'upheld' or 'overturned'")
        return outcome


class AppealRead(BaseModel):
    """An appeal as its author and moderators see it."""

    id: int
    review_id: int
    appellant_id: int
    statement: str
    status: AppealStatus
    reviewer_id: int | None
    notes: str | None
    decided_at: datetime | None
    created_at: datetime
