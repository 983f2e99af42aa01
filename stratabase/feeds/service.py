"""Feed pages. Each is one keyset statement for the posts plus the fixed batch loads of
``content.queries.hydrate``: the cost does not grow with the page size.

Muted and blocked authors (either direction) never appear in a signed-in viewer's feeds.

Cache (see :mod:`stratabase.feeds.pages`): the home and category feeds are cached as pages
of post bodies, stats always fresh; every write that changes a page invalidates its tags
after commit, so a page is never stale (for its author or anyone else). Popular and
trending are served from rankings recomputed every 30 s (:mod:`stratabase.feeds.rankings`:
order and membership at most 45 s old), their pages of bodies cached per ranking version.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth.principal import Principal
from stratabase.cache import Cache
from stratabase.cache.keys import FEED, tag_category, tag_feed, tag_post, tag_user
from stratabase.content import counters, queries
from stratabase.content.reads import TAG_CATEGORIES
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import PostKind, PostStatus
from stratabase.exceptions import InvalidInput, NotFound
from stratabase.feeds import pages, rankings
from stratabase.feeds.pages import BodyPage, PostJson, TaggedPage
from stratabase.models import Category, Follow, Post
from stratabase.pagination import CursorCodec, Page
from stratabase.social.queries import hidden_authors

#: Above this many followed authors the home feed is not cached (one tag per author).
MAX_CACHED_FOLLOWS = 200


async def home(
    db: Database,
    cache: Cache,
    viewer: Principal,
    *,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
    shape: queries.Shape = queries.FULL,
) -> Page[PostJson]:
    """Published posts of the authors the viewer follows, newest first (cached).

    The followed authors are read first (one statement) and the page is cached under a key
    that includes them, with the tags ``feed:<user>`` (mutes and blocks) and
    ``user:<author>`` of every followed author, which each post write of that author
    invalidates: a hit costs that statement and the fresh stats. A viewer following more
    than :data:`MAX_CACHED_FOLLOWS` authors is served from the database (too many tags to
    check on every read).
    """
    following = await _following(db, cache, viewer.user_id)
    kind = f"feed:{viewer.user_id}"
    cacheable = len(following) <= MAX_CACHED_FOLLOWS
    authors: Any = (
        following
        if cacheable
        else select(Follow.followee_id).where(Follow.follower_id == viewer.user_id)
    )

    async def load() -> BodyPage:
        statement = select(Post).where(
            Post.status == PostStatus.PUBLISHED, Post.author_id.in_(authors)
        )
        async with db.session() as session:
            return await _body_page(
                session, statement, viewer, kind=kind, codec=codec, cursor=cursor, limit=limit
            )

    if not cacheable:
        page = await load()
    else:
        key = pages.page_key(FEED, "home", viewer, following, cursor, limit)
        tags = [tag_feed(viewer.user_id), *(tag_user(author) for author in following)]
        page = await pages.cached_page(cache, key, load, tags)
    return Page(
        await pages.with_extras(db, viewer, page["items"], shape, cache=cache), page["next"]
    )


async def _following(db: Database, cache: Cache, user_id: int) -> list[int]:
    """The followed authors (their digest is part of the page key), cached under
    ``feed:following:<user>`` with the tag ``feed:<user>`` that every follow, unfollow and
    block of (or by) the user invalidates after commit: never stale, and a home-feed hit
    costs no statement but the fresh stats."""

    async def load() -> list[int]:
        async with db.session() as session:
            rows = await session.scalars(
                select(Follow.followee_id)
                .where(Follow.follower_id == user_id)
                .order_by(Follow.followee_id)
            )
            return list(rows)

    following: list[int] = await cache.get_or_load(
        FEED.key("following", user_id), load, tags=[tag_feed(user_id)]
    )
    return following


async def _body_page(
    session: AsyncSession,
    statement: Any,
    viewer: Principal | None,
    *,
    kind: str,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> BodyPage:
    """One keyset page of post bodies (no stats): what a cached feed page holds."""
    if viewer is not None:
        statement = statement.where(~hidden_authors(viewer.user_id))
    page = await queries.page_posts(
        session,
        statement,
        (Post.published_at, Post.id),
        kind=kind,
        codec=codec,
        cursor=cursor,
        limit=limit,
    )
    return {"items": await pages.json_bodies(session, page.items), "next": page.next_cursor}


async def category(
    db: Database,
    cache: Cache,
    viewer: Principal | None,
    category_id: int,
    *,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
    shape: queries.Shape = queries.FULL,
    exact_counters: bool = False,
) -> TaggedPage[PostJson]:
    """Published posts of a category, newest first (cached, tag ``category:<id>``, which
    every post write in the category invalidates; per viewer when signed in).

    ``exact_counters``: anonymous counters read from the database rather than the cache
    (for an answer kept :data:`counters.BOUND` seconds, so a view shows within that bound)."""
    kind = f"category:{category_id}"

    async def load() -> BodyPage:
        async with db.session() as session:
            if await session.get(Category, category_id) is None:
                raise _NoCategory
            statement = select(Post).where(
                Post.status == PostStatus.PUBLISHED, Post.category_id == category_id
            )
            return await _body_page(
                session, statement, viewer, kind=kind, codec=codec, cursor=cursor, limit=limit
            )

    key = pages.page_key(FEED, "category", viewer, category_id, cursor, limit)
    tags = [tag_category(category_id), TAG_CATEGORIES, *pages.viewer_tags(viewer)]
    try:
        page = await pages.cached_page(cache, key, load, tags)
    except _NoCategory:
        raise NotFound(f"category {category_id} does not exist", field="category_id") from None
    items = await pages.with_extras(
        db, viewer, page["items"], shape, cache=None if exact_counters else cache
    )
    return TaggedPage(items, page["next"], pages.answer_tags(tags, items), float(counters.BOUND))


class _NoCategory(Exception):
    """The category does not exist: nothing to cache."""


async def popular(
    db: Database,
    viewer: Principal | None,
    *,
    days: int,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
    kind: PostKind | None = None,
    cache: Cache | None = None,
    shape: queries.Shape = queries.FULL,
    exact_counters: bool = False,
) -> TaggedPage[PostJson]:
    """Most-liked posts published in the last ``days`` days (ties: newest id first), of one
    ``kind`` or all, from the ranking (at most 45 s old; see :mod:`~stratabase.feeds.rankings`)."""
    return await _ranked(
        db, cache, viewer, days, kind, shape, exact_counters,
        codec=codec, cursor=cursor, limit=limit,
    )  # fmt: skip


async def trending(
    db: Database,
    viewer: Principal | None,
    *,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
    kind: PostKind | None = None,
    cache: Cache | None = None,
    shape: queries.Shape = queries.FULL,
    exact_counters: bool = False,
) -> TaggedPage[PostJson]:
    """Posts of the last few days by time-decayed score (``score``), of one ``kind`` or all,
    from the ranking (at most 45 s old; see :mod:`~stratabase.feeds.rankings`)."""
    return await _ranked(
        db, cache, viewer, None, kind, shape, exact_counters,
        codec=codec, cursor=cursor, limit=limit,
    )  # fmt: skip


async def _ranked(
    db: Database,
    cache: Cache | None,
    viewer: Principal | None,
    days: int | None,
    kind: PostKind | None,
    shape: queries.Shape,
    exact_counters: bool,
    *,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> TaggedPage[PostJson]:
    """A page of a ranking: the ranking (cache), the page's bodies (cache, per ranking
    version, viewer class and position), fresh stats and likes.

    The cursor pins the ranking version it was made from; when the ranking has been
    recomputed since, the page continues after the last post seen if it is still ranked
    (else at the same position), so a recompute may repeat or skip a post at most once.
    """
    ranking = await rankings.get(db, cache, days, kind)
    list_kind = f"{ranking.list_name}:{kind.value if kind else 'all'}"
    start = 0
    if cursor:
        version, offset, last_id = codec.decode(list_kind, cursor, 3)
        if not (isinstance(version, str) and isinstance(offset, int) and isinstance(last_id, int)):
            raise InvalidInput("the cursor is malformed", field="cursor")
        start = _resume(ranking, version, offset, last_id)
    window = list(ranking.entries[start : start + _window(limit)])
    show_score = days is None

    async def load() -> BodyPage:
        return await _ranked_page(db, viewer, window, start, limit, show_score)

    tags = [*(tag_post(e.post_id) for e in window), *pages.viewer_tags(viewer)]
    if cache is None:
        page = await load()
    else:
        key = pages.page_key(FEED, "ranked", viewer, list_kind, ranking.version, start, limit)
        page = await pages.cached_page(cache, key, load, tags, ttl=float(rankings.MAX_AGE))
    next_cursor = None
    if page["next"] is not None and page["next"][0] < len(ranking.entries):
        next_cursor = codec.encode(list_kind, [ranking.version, *page["next"]])
    items = await pages.with_extras(
        db, viewer, page["items"], shape, cache=None if exact_counters else cache
    )
    # An answer built from this ranking is kept no longer than the ranking may be served.
    left = rankings.MAX_AGE - (utcnow() - ranking.computed_at).total_seconds()
    fresh_for = max(0.0, min(float(counters.BOUND), left))
    return TaggedPage(items, next_cursor, pages.answer_tags(tags, items), fresh_for)


def _window(limit: int) -> int:
    """Ranked candidates a page looks at: room for posts hidden, deleted or filtered out
    since the ranking was computed, bounded so a page costs a fixed number of statements."""
    return 2 * limit + 10


def _resume(ranking: rankings.Ranking, version: str, offset: int, last_id: int) -> int:
    if version == ranking.version:
        return max(0, offset)
    for index, entry in enumerate(ranking.entries):
        if entry.post_id == last_id:
            return index + 1
    return min(max(0, offset), len(ranking.entries))


async def _ranked_page(
    db: Database,
    viewer: Principal | None,
    window: list[rankings.RankedPost],
    start: int,
    limit: int,
    show_score: bool,
) -> BodyPage:
    """The first ``limit`` posts of ``window`` still published (and not hidden from the
    viewer), as bodies; ``next`` is ``[offset after the last one, its id]``. One statement
    for the posts plus the body loads."""
    if not window:
        return {"items": [], "next": None}
    statement = select(Post).where(
        Post.id.in_([e.post_id for e in window]), Post.status == PostStatus.PUBLISHED
    )
    if viewer is not None:
        statement = statement.where(~hidden_authors(viewer.user_id))
    async with db.session() as session:
        found = {post.id: post for post in await session.scalars(statement)}
        chosen: list[tuple[int, rankings.RankedPost]] = []
        for index, entry in enumerate(window):
            if entry.post_id in found:
                chosen.append((index, entry))
                if len(chosen) > limit:
                    break
        if len(chosen) > limit:
            chosen = chosen[:limit]
            resume = start + chosen[-1][0] + 1
        else:
            resume = start + len(window)
        items = await pages.json_bodies(session, [found[e.post_id] for _, e in chosen])
    for item, (_, entry) in zip(items, chosen, strict=True):
        item["score"] = entry.score if show_score else None
    return {"items": items, "next": [resume, chosen[-1][1].post_id if chosen else 0]}
