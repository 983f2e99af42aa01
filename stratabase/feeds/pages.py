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
from typing import Any

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


async def json_bodies(session: AsyncSession, posts: Sequence[Post]) -> list[dict[str, Any]]:
    """The viewer-independent part of each post, as plain JSON-able data."""
    return [jsonable_body(body) for body in await queries.bodies(session, posts)]


async def with_extras(
    db: Database,
    viewer: Principal | None,
    bodies: list[dict[str, Any]],
    shape: queries.Shape = queries.FULL,
    *,
    cache: Cache | None = None,
) -> list[dict[str, Any]]:
    """``bodies`` completed with stats and the viewer's like, each only if ``shape`` asks
    for it: a cached page with ``fields=`` naming neither costs no statement at all.

    Signed-in readers (or no ``cache``) get exact counters and their like in one read
    session. Anonymous readers get the post page's cached counters
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
    async with db.session() as session:
        stats, liked = await queries.extras(
            session, ids, viewer, stats=want_stats, liked=want_liked
        )
    for body in bodies:
        if want_stats:
            body.update(stats[body["id"]])
        if want_liked:
            body["liked"] = liked[body["id"]]
    return bodies


async def cached_page(
    cache: Cache,
    key: str,
    load: Callable[[], Awaitable[dict[str, Any]]],
    tags: Sequence[str],
    *,
    ttl: float | None = None,
) -> dict[str, Any]:
    """The page under ``key`` (``{"items": […], "next": cursor | None}``), loading it on a
    miss; ``tags`` are what the page depends on. An empty page is returned but not stored
    (absence is never cached, as for post pages): rows loaded behind the API (a seed load,
    an index rebuild) then show up on the next read instead of after the TTL. ``ttl``
    overrides the namespace's (pages keyed by a short-lived version)."""

    async def fill() -> dict[str, Any]:
        page = await load()
        if not page["items"]:
            raise _Empty(page)
        return page

    try:
        page: dict[str, Any] = await cache.get_or_load(key, fill, tags=list(tags), ttl=ttl)
    except _Empty as empty:
        return empty.page
    return page


class _Empty(Exception):
    """A page with no items: returned to the caller, never stored."""

    def __init__(self, page: dict[str, Any]) -> None:
        super().__init__("empty page")
        self.page = page
