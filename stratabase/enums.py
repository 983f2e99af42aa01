"""The closed vocabularies of the domain, shared by models, schemas and services."""

from __future__ import annotations

from enum import StrEnum


class Plan(StrEnum):
    """An organization's subscription tier."""

    FREE = "free"
    PRO = "pro"
    ENTERPRISE = "enterprise"


class Role(StrEnum):
    """What a user may do beyond their own content."""

    USER = "user"
    #: May hide content and review reports.
    MODERATOR = "moderator"
    #: May do anything, including minting tokens.
    ADMIN = "admin"


class UserStatus(StrEnum):
    """Whether an account may sign in and write."""

    ACTIVE = "active"
    #: Can sign in and read, cannot write.
    SUSPENDED = "suspended"
    #: Kept for referential integrity; cannot sign in.
    DELETED = "deleted"


class PostKind(StrEnum):
    """What a post is, for feeds and trending by kind."""

    ARTICLE = "article"
    NOTE = "note"
    VIDEO = "video"
    EPISODE = "episode"


class PostStatus(StrEnum):
    """Where a post is in its life; only ``published`` is public."""

    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"
    #: Hidden by a moderator; visible to its author only.
    HIDDEN = "hidden"


class MediaType(StrEnum):
    """The kind of an attached media file."""

    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"


class LikeTarget(StrEnum):
    """What a like is on."""

    POST = "post"
    COMMENT = "comment"


class AccountKind(StrEnum):
    """Whose ledger account it is: a user's wallet or the platform's."""

    #: Belongs to a user; never negative.
    USER = "user"
    #: Treasury, payments clearing, fees: the other side of mints and burns; may go negative.
    SYSTEM = "system"


class TransferStatus(StrEnum):
    """A ledger transfer's state: posted, or a hold and how it ended."""

    POSTED = "posted"
    #: A two-phase hold: reserved against the debit account, not yet moved.
    PENDING = "pending"
    VOIDED = "voided"
    EXPIRED = "expired"


class PaymentProvider(StrEnum):
    """The payment providers whose signed webhooks are accepted."""

    STRIPE = "stripe"
    PAYPAL = "paypal"
    FAWRY = "fawry"


class PaymentStatus(StrEnum):
    """A payment's state, as its provider's webhooks move it."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"
    CANCELED = "canceled"


class ReportTarget(StrEnum):
    """What a moderation report is about."""

    POST = "post"
    COMMENT = "comment"
    USER = "user"


class ReportReason(StrEnum):
    """Why something was reported."""

    SPAM = "spam"
    HARASSMENT = "harassment"
    HATE = "hate"
    MISINFORMATION = "misinformation"
    NSFW = "nsfw"
    COPYRIGHT = "copyright"
    OTHER = "other"


class Severity(StrEnum):
    """How urgent a report is, for the review queue's order."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ReportStatus(StrEnum):
    """Where a report is in review."""

    OPEN = "open"
    REVIEWING = "reviewing"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


class ReviewDecision(StrEnum):
    """What a moderator decided about a report."""

    APPROVE = "approve"
    REMOVE = "remove"
    WARN = "warn"
    SUSPEND = "suspend"
    DISMISS = "dismiss"


class JobStatus(StrEnum):
    """A job's state in the queue (see ``jobs/service.py`` for the transitions)."""

    #: Waiting for its run_at and a free worker.
    QUEUED = "queued"
    #: Claimed by a worker holding a lease.
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    #: Failed an attempt; re-queued with backoff while attempts remain.
    FAILED = "failed"
    #: Out of attempts; kept with its last error for inspection and manual retry.
    DEAD = "dead"
    CANCELLED = "cancelled"


class ProjectStatus(StrEnum):
    """Whether a publishing project still schedules episodes."""

    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class PlanningNoteStatus(StrEnum):
    """Whether a planning note was used by an episode yet."""

    OPEN = "open"
    APPLIED = "applied"
    DISMISSED = "dismissed"


class ChatRole(StrEnum):
    """Who wrote a message of a generation conversation."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class OrgRole(StrEnum):
    """What a member may do in an organization (P2.4)."""

    #: Everything an admin may, plus transferring ownership; an organization keeps one.
    OWNER = "owner"
    #: Manages members, invitations and projects, and spends the quota (generation).
    ADMIN = "admin"
    #: Reads everything of the organization; writes planning notes and agent memory.
    MEMBER = "member"


class InvitationStatus(StrEnum):
    """Where an invitation to an organization is: pending until used, revoked or expired."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    REVOKED = "revoked"
