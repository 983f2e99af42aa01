"""Feed pages. Each is one keyset statement for the posts plus the fixed batch loads of
``content.queries.hydrate``: the cost does not grow with the page size.

Muted and blocked authors (either direction) never appear in a signed-in viewer's feeds.

Cache (see :mod:`stratabase.feeds.pages`): the home and category feeds are cached as pages
of post bodies, stats always fresh. Popular and trending are not cached: their order moves
with every like (and, for trending, every view and the clock), so a cached page would be
stale after the next interaction.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth.principal import Principal
from stratabase.cache import Cache
from stratabase.cache.keys import FEED, tag_category, tag_feed, tag_user
from stratabase.content import queries
from stratabase.content.reads import TAG_CATEGORIES
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import PostStatus
from stratabase.exceptions import InvalidInput, NotFound
from stratabase.feeds import pages
from stratabase.models import Category, Follow, Post, PostStats
from stratabase.pagination import CursorCodec, Page, after
from stratabase.social.queries import hidden_authors

#: Trending looks at posts published in this window, at most this many of the newest.
TRENDING_WINDOW = timedelta(days=3)
TRENDING_CANDIDATES = 1_000
#: Hacker-News style gravity: score = engagement / (age_hours + 2) ** GRAVITY.
GRAVITY = 1.5
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
) -> Page[dict[str, Any]]:
    """Published posts of the authors the viewer follows, newest first (cached).

    The followed authors are read first (one statement) and the page is cached under a key
    that includes them, with the tags ``feed:<user>`` (mutes and blocks) and
    ``user:<author>`` of every followed author, which each post write of that author
    invalidates: a hit costs that statement and the fresh stats. A viewer following more
    than :data:`MAX_CACHED_FOLLOWS` authors is served from the database (too many tags to
    check on every read).
    """
    following = await _following(db, viewer.user_id)
    kind = f"feed:{viewer.user_id}"
    cacheable = len(following) <= MAX_CACHED_FOLLOWS
    authors: Any = (
        following
        if cacheable
        else select(Follow.followee_id).where(Follow.follower_id == viewer.user_id)
    )

    async def load() -> dict[str, Any]:
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
    return Page(await pages.with_extras(db, viewer, page["items"]), page["next"])


async def _following(db: Database, user_id: int) -> list[int]:
    """The followed authors, read fresh (one statement): their digest is part of the page
    key, so a follow or unfollow can never be answered from a page built without it."""
    async with db.session() as session:
        rows = await session.scalars(
            select(Follow.followee_id)
            .where(Follow.follower_id == user_id)
            .order_by(Follow.followee_id)
        )
        return list(rows)


async def _body_page(
    session: AsyncSession,
    statement: Any,
    viewer: Principal | None,
    *,
    kind: str,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
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
) -> Page[dict[str, Any]]:
    """Published posts of a category, newest first (cached, tag ``category:<id>``, which
    every post write in the category invalidates; per viewer when signed in)."""
    kind = f"category:{category_id}"

    async def load() -> dict[str, Any]:
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
    return Page(await pages.with_extras(db, viewer, page["items"]), page["next"])


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
) -> Page[dict[str, Any]]:
    """Most-liked posts published in the last ``days`` days (ties: newest id first)."""
    since = utcnow() - timedelta(days=days)
    columns = (PostStats.likes, Post.id)
    statement = (
        select(Post, PostStats.likes)
        .join(PostStats, PostStats.post_id == Post.id)
        .where(Post.status == PostStatus.PUBLISHED, Post.published_at >= since)
    )
    if viewer is not None:
        statement = statement.where(~hidden_authors(viewer.user_id))
    kind = f"popular:{days}"
    if cursor:
        statement = statement.where(after(columns, codec.decode(kind, cursor, 2), descending=True))
    async with db.session() as session:
        rows = (
            await session.execute(
                statement.order_by(PostStats.likes.desc(), Post.id.desc()).limit(limit + 1)
            )
        ).all()
        more = len(rows) > limit
        rows = rows[:limit]
        items = await queries.hydrate(session, [row[0] for row in rows], viewer)
    next_cursor = codec.encode(kind, [rows[-1][1], rows[-1][0].id]) if more else None
    return Page(items, next_cursor)


def trending_score(
    likes: int, comments: int, views: int, published_at: datetime, now: datetime
) -> float:
    """Engagement decayed by age: newer posts need less engagement to rank as high."""
    age_hours = max(0.0, (now - published_at).total_seconds() / 3600)
    engagement = likes + 2 * comments + views / 10
    return round(engagement / math.pow(age_hours + 2, GRAVITY), 9)


async def trending(
    db: Database,
    viewer: Principal | None,
    *,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[dict[str, Any]]:
    """Posts of the last few days by time-decayed score.

    The candidates (the newest published posts of the window) are read in one statement
    and scored here, identically on both backends; the cursor is the last (score, id).
    """
    now = utcnow()
    position: tuple[float, int] | None = None
    if cursor:
        # Later pages score at the first page's clock, so the order cannot shift under them.
        at, score, last_id = codec.decode("trending", cursor, 3)
        if not (
            isinstance(at, datetime) and isinstance(score, int | float) and isinstance(last_id, int)
        ):
            raise InvalidInput("the cursor is malformed", field="cursor")
        now, position = at, (float(score), last_id)
    statement = (
        select(Post, PostStats.likes, PostStats.comments, PostStats.views)
        .join(PostStats, PostStats.post_id == Post.id)
        .where(Post.status == PostStatus.PUBLISHED, Post.published_at >= now - TRENDING_WINDOW)
    )
    if viewer is not None:
        statement = statement.where(~hidden_authors(viewer.user_id))
    statement = statement.order_by(Post.published_at.desc(), Post.id.desc()).limit(
        TRENDING_CANDIDATES
    )
    async with db.session() as session:
        rows = (await session.execute(statement)).all()
        ranked = sorted(
            (
                (
                    trending_score(likes, comments, views, post.published_at or now, now),
                    post.id,
                    post,
                )
                for post, likes, comments, views in rows
            ),
            key=lambda item: (item[0], item[1]),
            reverse=True,
        )
        if position is not None:
            ranked = [item for item in ranked if (item[0], item[1]) < position]
        chosen = ranked[: limit + 1]
        more = len(chosen) > limit
        chosen = chosen[:limit]
        items = await queries.hydrate(session, [item[2] for item in chosen], viewer)
        for item, (score, _, _) in zip(items, chosen, strict=True):
            item["score"] = score
    next_cursor = codec.encode("trending", [now, chosen[-1][0], chosen[-1][1]]) if more else None
    return Page(items, next_cursor)
