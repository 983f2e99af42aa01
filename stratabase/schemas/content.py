"""Posts and what hangs off them: content blocks, categories, tags, media, comments, highlights.

Content blocks are a discriminated union on ``type``, so a bad block is reported against
its own variant (``content_blocks.3.heading.level``) rather than as "matched no union
member", and stored JSON reads back into the same typed blocks.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from stratabase.enums import MediaType, PostKind, PostStatus
from stratabase.schemas.common import (
    MAX_INT,
    HttpUrlStr,
    Id,
    InputModel,
    Metadata,
    PostSlug,
    ReadModel,
    UpdateModel,
)

# --- content blocks --------------------------------------------------------------------


class _Block(BaseModel):
    """Blocks are written by clients and read back from JSON: strict shape both ways."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ParagraphBlock(_Block):
    """Plain text, the commonest block."""

    type: Literal["paragraph"] = "paragraph"
    text: str = Field(min_length=1, max_length=20_000)


class HeadingBlock(_Block):
    """A section heading; ``level`` 1 to 6 as in HTML, 2 by default (the title is the 1)."""

    type: Literal["heading"] = "heading"
    text: str = Field(min_length=1, max_length=300)
    level: int = Field(default=2, ge=1, le=6)


class QuoteBlock(_Block):
    """A quotation, with an optional source."""

    type: Literal["quote"] = "quote"
    text: str = Field(min_length=1, max_length=5_000)
    cite: str | None = Field(default=None, max_length=300)


ListItem = Annotated[str, StringConstraints(min_length=1, max_length=2_000)]


class ListBlock(_Block):
    """A bulleted (or ``ordered``) list of short text items."""

    type: Literal["list"] = "list"
    items: list[ListItem] = Field(min_length=1, max_length=100)
    ordered: bool = False


class ImageBlock(_Block):
    """An image by URL; the size, when given, lets clients reserve space before it loads."""

    type: Literal["image"] = "image"
    url: HttpUrlStr
    alt: str | None = Field(default=None, max_length=500)
    caption: str | None = Field(default=None, max_length=1_000)
    width: int | None = Field(default=None, ge=1, le=MAX_INT)
    height: int | None = Field(default=None, ge=1, le=MAX_INT)


class CodeBlock(_Block):
    """Source code, kept verbatim (whitespace included) with an optional language hint."""

    type: Literal["code"] = "code"
    #: Not stripped: leading indentation is part of the code.
    code: Annotated[str, StringConstraints(strip_whitespace=False, min_length=1, max_length=50_000)]
    language: str | None = Field(default=None, max_length=40)


class EmbedBlock(_Block):
    """A link a client may render as an embed (video, social post), by ``provider``."""

    type: Literal["embed"] = "embed"
    url: HttpUrlStr
    provider: str | None = Field(default=None, max_length=60)


ContentBlock = Annotated[
    ParagraphBlock | HeadingBlock | QuoteBlock | ListBlock | ImageBlock | CodeBlock | EmbedBlock,
    Field(discriminator="type"),
]
ContentBlocks = Annotated[list[ContentBlock], Field(max_length=200)]

# --- categories and tags ---------------------------------------------------------------


class CategoryRead(ReadModel):
    """A category as clients see it: categories belong to a theme and come from seeds or admin
    tools."""

    id: int
    theme: str
    name: str
    slug: str
    description: str | None = None
    created_at: AwareDatetime


def _unique_tags(tags: list[str]) -> list[str]:
    # "Python" and "python" are one tag; keep the first spelling, in the order given.
    seen: set[str] = set()
    unique: list[str] = []
    for tag in tags:
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            unique.append(tag)
    return unique


TagName = Annotated[str, StringConstraints(min_length=1, max_length=50)]
TagNames = Annotated[list[TagName], Field(max_length=20), AfterValidator(_unique_tags)]


class TagRead(ReadModel):
    """A tag: ``slug`` is its identity (``Python`` and ``python`` are one tag), ``name`` its first
    spelling."""

    id: int
    name: str
    slug: str


# --- posts -----------------------------------------------------------------------------

#: Statuses an author may set; ``hidden`` is a moderator's decision.
AuthorPostStatus = Literal["draft", "published", "archived"]


class PostCreate(InputModel):
    """A new post. Tags are given by name and created on first use."""

    kind: PostKind
    title: str = Field(min_length=1, max_length=200)
    slug: PostSlug | None = None
    summary: str | None = Field(default=None, max_length=500)
    content_blocks: ContentBlocks = Field(default_factory=list)
    category_id: Id | None = None
    tags: TagNames = Field(default_factory=list)
    metadata: Metadata = Field(default_factory=dict)
    status: AuthorPostStatus = "draft"


class PostUpdate(UpdateModel):
    """Lists and ``metadata`` replace the stored value as a whole."""

    nullable_fields = frozenset({"summary", "category_id"})

    kind: PostKind | None = None
    title: str | None = Field(default=None, min_length=1, max_length=200)
    slug: PostSlug | None = None
    summary: str | None = Field(default=None, max_length=500)
    content_blocks: ContentBlocks | None = None
    category_id: Id | None = None
    tags: TagNames | None = None
    metadata: Metadata | None = None
    status: AuthorPostStatus | None = None


class PostStatsRead(ReadModel):
    """A post's counters; zero (and no ``updated_at``) before anything was counted."""

    post_id: int
    views: int = 0
    likes: int = 0
    shares: int = 0
    comments: int = 0
    updated_at: AwareDatetime | None = None


class MediaRead(ReadModel):
    """A media item attached to a post, in display order (``position``)."""

    id: int
    post_id: int
    type: MediaType
    url: str
    mime_type: str | None = None
    size_bytes: int | None = None
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    alt: str | None = None
    position: int
    created_at: AwareDatetime


class PostRead(ReadModel):
    """A post; ``stats``, ``tags`` and ``media`` are present only when the query loaded them."""

    id: int
    author_id: int
    category_id: int | None = None
    kind: PostKind
    title: str
    slug: str
    summary: str | None = None
    content_blocks: list[ContentBlock] = Field(default_factory=list)
    status: PostStatus
    #: The ORM attribute is ``meta`` (``metadata`` is reserved on declarative classes).
    metadata: dict[str, Any] = Field(
        default_factory=dict, validation_alias=AliasChoices("meta", "metadata")
    )
    published_at: AwareDatetime | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    stats: PostStatsRead | None = None
    tags: list[TagRead] | None = None
    media: list[MediaRead] | None = None


# --- comments and highlights -----------------------------------------------------------


class CommentCreate(InputModel):
    """A comment on a post, or a reply when ``parent_id`` is given."""

    body: str = Field(min_length=1, max_length=10_000)
    parent_id: Id | None = None


class CommentUpdate(UpdateModel):
    """An edit of a comment: only its body can change (the thread it sits in cannot)."""

    body: str | None = Field(default=None, min_length=1, max_length=10_000)
