"""The closed vocabularies of the domain, shared by models, schemas and services."""

from __future__ import annotations

from enum import StrEnum


class Plan(StrEnum):
    FREE = "free"
    PRO = "pro"
    ENTERPRISE = "enterprise"


class Role(StrEnum):
    USER = "user"
    #: May hide content and review reports.
    MODERATOR = "moderator"
    #: May do anything, including minting tokens.
    ADMIN = "admin"


class UserStatus(StrEnum):
    ACTIVE = "active"
    #: Can sign in and read, cannot write.
    SUSPENDED = "suspended"
    #: Kept for referential integrity; cannot sign in.
    DELETED = "deleted"


class PostKind(StrEnum):
    ARTICLE = "article"
    NOTE = "note"
    VIDEO = "video"
    EPISODE = "episode"


class PostStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"
    #: Hidden by a moderator; visible to its author only.
    HIDDEN = "hidden"


class MediaType(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"


class LikeTarget(StrEnum):
    POST = "post"
    COMMENT = "comment"


class AccountKind(StrEnum):
    #: Belongs to a user; never negative.
    USER = "user"
    #: Treasury, payments clearing, fees: the other side of mints and burns; may go negative.
    SYSTEM = "system"


class TransferStatus(StrEnum):
    POSTED = "posted"
    #: A two-phase hold: reserved against the debit account, not yet moved.
    PENDING = "pending"
    VOIDED = "voided"
    EXPIRED = "expired"


class PaymentProvider(StrEnum):
    STRIPE = "stripe"
    PAYPAL = "paypal"
    FAWRY = "fawry"


class PaymentStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"
    CANCELED = "canceled"


class ReportTarget(StrEnum):
    POST = "post"
    COMMENT = "comment"
    USER = "user"


class ReportReason(StrEnum):
    SPAM = "spam"
    HARASSMENT = "harassment"
    HATE = "hate"
    MISINFORMATION = "misinformation"
    NSFW = "nsfw"
    COPYRIGHT = "copyright"
    OTHER = "other"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ReportStatus(StrEnum):
    OPEN = "open"
    REVIEWING = "reviewing"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


class ReviewDecision(StrEnum):
    APPROVE = "approve"
    REMOVE = "remove"
    WARN = "warn"
    SUSPEND = "suspend"
    DISMISS = "dismiss"


class JobStatus(StrEnum):
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
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class PlanningNoteStatus(StrEnum):
    OPEN = "open"
    APPLIED = "applied"
    DISMISSED = "dismissed"


class ChatRole(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"
