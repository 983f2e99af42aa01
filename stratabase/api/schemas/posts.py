"""A post as the API answers it: everything a post page shows, in one response."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel

from stratabase.api.schemas.common import PageOut
from stratabase.schemas.accounts import UserPublicRead
from stratabase.schemas.content import CategoryRead, MediaRead, PostRead, PostStatsRead, TagRead


class PostOut(PostRead):
    """A post as the API shows it: the row plus whatever relations the list hydrated."""

    author: UserPublicRead | None = None
    category: CategoryRead | None = None
    tags: list[TagRead] = []
    media: list[MediaRead] = []
    stats: PostStatsRead | None = None
    #: Whether the signed-in viewer likes the post (null when anonymous).
    liked: bool | None = None
    #: The trending score (trending list only).
    score: float | None = None


class CommentOut(BaseModel):
    """A comment with its nested replies. Deleted comments keep their place, without body
    or author."""

    id: int
    post_id: int
    parent_id: int | None = None
    root_id: int | None = None
    depth: int
    author: UserPublicRead | None = None
    body: str
    deleted: bool = False
    like_count: int = 0
    liked: bool = False
    created_at: AwareDatetime
    updated_at: AwareDatetime
    replies: list[CommentOut] = []


class SearchHitOut(BaseModel):
    """A search result; ``title`` and ``snippet`` are HTML-escaped with hits in <mark>."""

    type: str
    id: int
    rank: int
    title: str
    snippet: str
    post: PostOut | None = None
    user: UserPublicRead | None = None


class PostPageOut(PostOut):
    """The post page; ``comments`` only with ``include=comments`` (its first page)."""

    comments: PageOut[CommentOut] | None = None
