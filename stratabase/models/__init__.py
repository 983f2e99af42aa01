"""ORM mappings, one module per domain. Importing this package registers every table."""

from stratabase.db.base import Base, metadata
from stratabase.models.accounts import Organization, User, UserSession
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

__all__ = [
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
    "Episode",
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
    "ModerationReview",
    "Mute",
    "Organization",
    "Payment",
    "PaymentEvent",
    "PlanningNote",
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
    "UserSession",
    "metadata",
    "post_media",
    "post_tags",
]
