"""Feed pages. Each is one keyset statement for the posts plus the fixed batch loads of
``content.queries.hydrate``: the cost does not grow with the page size.

Muted and blocked authors (either direction) never appear in a signed-in viewer's feeds.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth.principal import Principal
from stratabase.content import queries
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import PostStatus
from stratabase.exceptions import InvalidInput, NotFound
from stratabase.models import Category, Follow, Post, PostStats
from stratabase.pagination import CursorCodec, Page, after
from stratabase.social.queries import hidden_authors

#: Trending looks at posts published in this window, at most this many of the newest.
TRENDING_WINDOW = timedelta(days=3)
TRENDING_CANDIDATES = 1_000
#: Hacker-News style gravity: score = engagement / (age_hours + 2) ** GRAVITY.
GRAVITY = 1.5


async def _page(
    session: AsyncSession,
    statement: Any,
    viewer: Principal | None,
    *,
    kind: str,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[dict[str, Any]]:
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
    return Page(await queries.hydrate(session, page.items, viewer), page.next_cursor)


async def home(
    db: Database, viewer: Principal, *, codec: CursorCodec, cursor: str | None, limit: int
) -> Page[dict[str, Any]]:
    """Published posts of the authors the viewer follows, newest first."""
    followed = select(Follow.followee_id).where(Follow.follower_id == viewer.user_id)
    statement = select(Post).where(
        Post.status == PostStatus.PUBLISHED, Post.author_id.in_(followed)
    )
    async with db.session() as session:
        return await _page(
            session,
            statement,
            viewer,
            kind=f"feed:{viewer.user_id}",
            codec=codec,
            cursor=cursor,
            limit=limit,
        )


async def category(
    db: Database,
    viewer: Principal | None,
    category_id: int,
    *,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[dict[str, Any]]:
    async with db.session() as session:
        if await session.get(Category, category_id) is None:
            raise NotFound(f"category {category_id} does not exist", field="category_id")
        statement = select(Post).where(
            Post.status == PostStatus.PUBLISHED, Post.category_id == category_id
        )
        return await _page(
            session,
            statement,
            viewer,
            kind=f"category:{category_id}",
            codec=codec,
            cursor=cursor,
            limit=limit,
        )


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
