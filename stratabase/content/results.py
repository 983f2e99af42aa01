"""What the content use cases return: typed answers beside the services that build them.

A post answer is JSON-shaped data on the hottest read path: bodies are cached as JSON,
completed per request with counters and the viewer's like, and serialized once (or spliced
into cached bytes, :class:`CachedBody`). So the post shapes are ``TypedDict``: the type
checker knows every key, and at run time they stay the plain dicts the cache stores and
the serializer reads, with no conversion on a hit. A result that is built once per write
(:class:`LikeResult`) is a frozen dataclass.

Keys marked ``NotRequired`` are present only when the caller's :class:`~stratabase.content.
queries.Shape` (``fields=``) asks for them; ``id`` is always present.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NotRequired, TypedDict

__all__ = [
    "CachedBody",
    "CategoryJson",
    "LikeResult",
    "PostAnswer",
    "PostBody",
    "PostStatsJson",
    "PublicUser",
    "StatsPart",
    "TagJson",
]


class PublicUser(TypedDict):
    """Only what anyone may see of a user (never email, role or password)."""

    id: int
    username: str
    name: str
    avatar_url: str | None
    bio: str | None


class TagJson(TypedDict):
    """A tag on a post."""

    id: int
    name: str
    slug: str


class PostStatsJson(TypedDict):
    """A post's counters; no ``updated_at`` before anything was counted."""

    post_id: int
    views: int
    likes: int
    shares: int
    comments: int
    updated_at: NotRequired[datetime | None]


class StatsPart(TypedDict):
    """The per-request part of a post answer that changes with every like, comment, view."""

    stats: PostStatsJson


class PostBody(TypedDict):
    """The viewer-independent part of a post (what a cache may share between viewers).

    ``category`` and ``media`` hold ORM objects until :func:`~stratabase.content.reads.
    jsonable_body` turns them into plain data for the cache; ``content_blocks`` and
    ``metadata`` are the stored JSON."""

    id: int
    author_id: NotRequired[int]
    category_id: NotRequired[int | None]
    kind: NotRequired[str]
    title: NotRequired[str]
    slug: NotRequired[str]
    summary: NotRequired[str | None]
    content_blocks: NotRequired[list[dict[str, Any]]]
    status: NotRequired[str]
    metadata: NotRequired[dict[str, Any]]
    published_at: NotRequired[datetime | None]
    created_at: NotRequired[datetime]
    updated_at: NotRequired[datetime]
    author: NotRequired[PublicUser | None]
    category: NotRequired[Any]
    tags: NotRequired[list[TagJson]]
    media: NotRequired[list[Any]]


class PostAnswer(PostBody):
    """A post as a reader gets it: the body, its counters and whether the viewer likes it
    (None when anonymous). What post lists and the post write use cases return."""

    stats: NotRequired[PostStatsJson]
    liked: NotRequired[bool | None]


class CachedBody(TypedDict):
    """A post body serialized once (``post:<id>:json``): the fields that decide visibility,
    and the JSON text around ``stats`` that a read splices its counters into."""

    status: str
    author_id: int
    #: The post's own fields as a JSON object, without its closing brace.
    head: str
    #: ``,"tags":…,"media":…,"author":…,"category":…`` (no braces).
    tail: str


class CategoryJson(TypedDict):
    """A category as cached (``CategoryRead`` as JSON data: ``created_at`` is ISO text)."""

    id: int
    theme: str
    name: str
    slug: str
    description: str | None
    created_at: str


@dataclass(frozen=True, slots=True)
class LikeResult:
    """A like or unlike as it stands after the change (doing it twice changes nothing)."""

    #: Whether the actor now likes the target.
    liked: bool
    #: The target's exact like count, read in the same transaction.
    likes: int
