"""Cached pages of posts (feeds, search): the shared part in the cache, counters fresh.

A cached page holds what every request for it would compute the same way: the ordered post
bodies (:func:`stratabase.content.queries.bodies`, as JSON) and the signed next cursor. The
stats and the viewer's like change on every interaction, so they are read fresh on every
request (:func:`stratabase.content.queries.extras`, one or two statements): a hit costs
those statements, a miss the page statement, the body loads and those.

What a page depends on is in its key and its tags:

- the *visibility class*: ``anon`` for anonymous readers, ``u<id>`` for a signed-in one
  (muted and blocked authors are filtered per viewer), with the viewer's tag
  ``feed:<id>`` that every follow, mute and block of the viewer (or block *of* the
  viewer) invalidates, so one viewer's filtered page is never shown to another;
- the page's own tags (``category:<id>``, ``search:posts``, ``user:<author>`` …) that the
  write paths invalidate after commit.

Free text (a search query, a cursor) never appears in a key: it is hashed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypedDict, TypeVar, cast

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth.principal import Principal
from stratabase.cache import Cache
from stratabase.cache.errors import CacheError
from stratabase.cache.keys import Namespace, tag_feed
from stratabase.content import counters, queries
from stratabase.content.reads import jsonable_body
from stratabase.db.session import Database
from stratabase.models import Post
from stratabase.pagination import Page

T = TypeVar("T")


class PostJson(TypedDict, total=False):
    """A post of a cached page as plain JSON-able data (``PostOut``'s fields). Which keys
    are present follows the request's ``fields=`` (partial hydration); ``stats``, ``liked``
    and ``score`` are added per request, never stored with the page."""

    id: int
    author_id: int
    category_id: int | None
    kind: str
    title: str
    slug: str
    summary: str | None
    content_blocks: list[dict[str, Any]]
    status: str
    metadata: dict[str, Any]
    published_at: Any
    created_at: Any
    updated_at: Any
    author: dict[str, Any] | None
    category: dict[str, Any] | None
    tags: list[dict[str, Any]]
    media: list[dict[str, Any]]
    stats: Any
    liked: bool | None
    score: float | None


class BodyPage(TypedDict):
    """What a cached page of posts holds: the ordered bodies and the next position (a
    signed cursor for keyset lists, ``[offset, last id]`` for rankings)."""

    items: list[PostJson]
    next: Any


@dataclass(frozen=True)
class TaggedPage(Page[T], Generic[T]):
    """A page with what an anonymous answer built from it depends on: the tags whose
    invalidation changes it (the cached page's own, and each post's counters) and the
    seconds it may be kept (``fresh_for``). The HTTP layer keeps the whole anonymous answer
    under those (:func:`stratabase.api.responses.cached_answer`)."""

    tags: tuple[str, ...] = ()
    fresh_for: float = 0.0


def answer_tags(page_tags: Sequence[str], items: Sequence[PostJson]) -> tuple[str, ...]:
    """``page_tags`` plus the counters' tags of every post in ``items``
    (:func:`counters.stats_tags`): a like or a comment on any of them changes the answer."""
    tags = list(page_tags)
    for item in items:
        tags.extend(counters.stats_tags(item["id"]))
    return tuple(tags)


def viewer_class(viewer: Principal | None) -> str:
    """``anon`` or ``u<id>``: pages filtered for one viewer are keyed by that viewer."""
    return "anon" if viewer is None else f"u{viewer.user_id}"


def viewer_tags(viewer: Principal | None) -> list[str]:
    """The tag a signed-in viewer's follows, mutes and blocks invalidate."""
    return [] if viewer is None else [tag_feed(viewer.user_id)]


def page_key(namespace: Namespace, kind: str, viewer: Principal | None, *parts: object) -> str:
    """``<ns>:<kind>:<viewer class>:<digest of the parts>``."""
    digest = hashlib.sha256("\x00".join(str(p) for p in parts).encode()).hexdigest()[:32]
    return namespace.key(kind, viewer_class(viewer), digest)


async def json_bodies(session: AsyncSession, posts: Sequence[Post]) -> list[PostJson]:
    """The viewer-independent part of each post, as plain JSON-able data."""
    return [cast(PostJson, jsonable_body(body)) for body in await queries.bodies(session, posts)]


async def with_extras(
    db: Database,
    viewer: Principal | None,
    bodies: list[PostJson],
    shape: queries.Shape = queries.FULL,
    *,
    cache: Cache | None = None,
) -> list[PostJson]:
    """``bodies`` completed with stats and the viewer's like, each only if ``shape`` asks
    for it: a cached page with ``fields=`` naming neither costs no statement at all.

    Signed-in readers (or no ``cache``) get exact counters and their like in one
    statement (:func:`counters.fresh_many`). Anonymous readers get the post page's cached counters
    (:func:`counters.cached_many`: likes and comments at once, views within
    ``counters.BOUND``), so a warm anonymous page costs no statement; if the cache cannot
    answer, the counters are read from the database instead."""
    want_stats, want_liked = shape.wants("stats"), shape.wants("liked")
    if not bodies or not (want_stats or want_liked):
        return bodies
    ids = [b["id"] for b in bodies]
    if viewer is None and cache is not None:
        try:
            texts = await counters.cached_many(db, cache, ids) if want_stats else {}
        except CacheError:
            pass
        else:
            for body in bodies:
                if want_stats:
                    body["stats"] = orjson.loads(texts[body["id"]])
                if want_liked:
                    body["liked"] = None
            return bodies
    if viewer is not None and want_stats and want_liked:  # the usual page: one statement
        both = await counters.fresh_many(db, viewer, ids)
        for body in bodies:
            body["stats"], body["liked"] = both[body["id"]]
        return bodies
    async with db.session() as session:
        stats, liked = await queries.extras(
            session, ids, viewer, stats=want_stats, liked=want_liked
        )
    for body in bodies:
        if want_stats:
            body["stats"] = stats[body["id"]]["stats"]
        if want_liked:
            body["liked"] = liked[body["id"]]
    return bodies


#: A cached page: of post bodies (feeds), or of other hits (search) as plain JSON.
PageT = TypeVar("PageT", BodyPage, dict[str, Any])


async def cached_page(
    cache: Cache,
    key: str,
    load: Callable[[], Awaitable[PageT]],
    tags: Sequence[str],
    *,
    ttl: float | None = None,
) -> PageT:
    """The page under ``key`` (``{"items": […], "next": cursor | None}``), loading it on a
    miss; ``tags`` are what the page depends on. An empty page is returned but not stored
    (absence is never cached, as for post pages): rows loaded behind the API (a seed load,
    an index rebuild) then show up on the next read instead of after the TTL. ``ttl``
    overrides the namespace's (pages keyed by a short-lived version)."""

    async def fill() -> PageT:
        page = await load()
        if not page["items"]:
            raise _Empty(page)
        return page

    try:
        page: PageT = await cache.get_or_load(key, fill, tags=list(tags), ttl=ttl)
    except _Empty as empty:
        return cast(PageT, empty.page)
    return page


class _Empty(Exception):
    """A page with no items: returned to the caller, never stored."""

    def __init__(self, page: BodyPage | dict[str, Any]) -> None:
        super().__init__("empty page")
        self.page = page
