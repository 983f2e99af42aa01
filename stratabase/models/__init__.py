"""ORM mappings, one module per domain. Importing this package registers every table."""

from stratabase.db.base import Base, metadata
from stratabase.models.account_tokens import AccountExport, AccountToken
from stratabase.models.accounts import Organization, User, UserSession
from stratabase.models.analytics import DailyActiveUsers, DailyEventCount, EpisodeReadingDaily
from stratabase.models.cache import CacheGeneration, CacheInvalidation
from stratabase.models.content import (
    Category,
    Comment,
    Highlight,
    Media,
    Post,
    PostStats,
    Tag,
    post_tags,
)
from stratabase.models.events import ChangeEvent, QueryLog, SystemState, TokenUsageDaily, UserEvent
from stratabase.models.jobs import Job
from stratabase.models.ledger import (
    LedgerAccount,
    LedgerEntry,
    LedgerRefusal,
    LedgerTransfer,
    Payment,
    PaymentEvent,
)
from stratabase.models.media_store import MediaObject, post_media
from stratabase.models.moderation import AuditLog, ContentReport, ModerationReview
from stratabase.models.organizations import (
    OrganizationInvitation,
    OrganizationMember,
    PlanLimit,
    PlanningNoteEpisode,
)
from stratabase.models.publishing import (
    AgentMemory,
    ChatMessage,
    ChatSession,
    Episode,
    PlanningNote,
    Project,
)
from stratabase.models.search import SearchDocument
from stratabase.models.social import Block, Follow, Like, Mute
from stratabase.models.trust import ModerationAppeal, ModerationHold, UserSanction

__all__ = [
    "AccountExport",
    "AccountToken",
    "AgentMemory",
    "AuditLog",
    "Base",
    "Block",
    "CacheGeneration",
    "CacheInvalidation",
    "Category",
    "ChangeEvent",
    "ChatMessage",
    "ChatSession",
    "Comment",
    "ContentReport",
    "DailyActiveUsers",
    "DailyEventCount",
    "Episode",
    "EpisodeReadingDaily",
    "Follow",
    "Highlight",
    "Job",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerRefusal",
    "LedgerTransfer",
    "Like",
    "Media",
    "MediaObject",
    "ModerationAppeal",
    "ModerationHold",
    "ModerationReview",
    "Mute",
    "Organization",
    "OrganizationInvitation",
    "OrganizationMember",
    "Payment",
    "PaymentEvent",
    "PlanLimit",
    "PlanningNote",
    "PlanningNoteEpisode",
    "Post",
    "PostStats",
    "Project",
    "QueryLog",
    "SearchDocument",
    "SystemState",
    "Tag",
    "TokenUsageDaily",
    "User",
    "UserEvent",
    "UserSanction",
    "UserSession",
    "metadata",
    "post_media",
    "post_tags",
]
