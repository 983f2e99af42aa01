"""Request and response schemas (Pydantic v2), one module per domain like ``models``.

Input models refuse unknown fields and strip strings; read models load from ORM objects.
Import from here: ``from stratabase.schemas import PostCreate``.
"""

from stratabase.schemas.accounts import (
    LoginRequest,
    UserCreate,
    UserPublicRead,
    UserRead,
)
from stratabase.schemas.common import (
    Amount,
    HttpUrlStr,
    Id,
    InputModel,
    Metadata,
    PostSlug,
    ReadModel,
    Slug,
    Timezone,
    UpdateModel,
    Username,
)
from stratabase.schemas.content import (
    CategoryRead,
    CodeBlock,
    CommentCreate,
    CommentUpdate,
    ContentBlock,
    ContentBlocks,
    EmbedBlock,
    HeadingBlock,
    ImageBlock,
    ListBlock,
    MediaRead,
    ParagraphBlock,
    PostCreate,
    PostRead,
    PostStatsRead,
    PostUpdate,
    QuoteBlock,
    TagRead,
)
from stratabase.schemas.jobs import JobCreate, JobRead
from stratabase.schemas.ledger import (
    CreditRequest,
    PaymentCreate,
    PaymentRead,
    TransferCreate,
    TransferRead,
    WalletRead,
)
from stratabase.schemas.publishing import (
    CadenceConfig,
)
from stratabase.schemas.social import RelationshipRead

__all__ = [
    "Amount",
    "CadenceConfig",
    "CategoryRead",
    "CodeBlock",
    "CommentCreate",
    "CommentUpdate",
    "ContentBlock",
    "ContentBlocks",
    "CreditRequest",
    "EmbedBlock",
    "HeadingBlock",
    "HttpUrlStr",
    "Id",
    "ImageBlock",
    "InputModel",
    "JobCreate",
    "JobRead",
    "ListBlock",
    "LoginRequest",
    "MediaRead",
    "Metadata",
    "ParagraphBlock",
    "PaymentCreate",
    "PaymentRead",
    "PostCreate",
    "PostRead",
    "PostSlug",
    "PostStatsRead",
    "PostUpdate",
    "QuoteBlock",
    "ReadModel",
    "RelationshipRead",
    "Slug",
    "TagRead",
    "Timezone",
    "TransferCreate",
    "TransferRead",
    "UpdateModel",
    "UserCreate",
    "UserPublicRead",
    "UserRead",
    "Username",
    "WalletRead",
]
