"""A post's counters on the read path: cached for anonymous readers, exact for signed-in ones.

Views, likes and comment counts change on every interaction, far more often than the post
itself, so the post page reads them apart from the cached body:

- **Anonymous readers** get the counters from the cache (``poststats:<id>``, no SQL on a
  hit). An entry is fresh for :data:`BOUND` seconds and never served stale (except while
  the database cannot answer: then the last counts rather than an error). Likes and
  unlikes of the post, and comments created or deleted on it, invalidate it after commit
  (tags ``post:<id>:stats`` and ``post:<id>:comments``): they show at once in this process
  and, on two tiers, in the others as soon as the invalidation message arrives. Views do
  not invalidate it (they are the most frequent write; a hot post would never be cached):
  a view shows to everyone within :data:`BOUND` seconds (30 s, the period at which
  ``stats.flush`` moves buffered views into ``post_stats``; at 2 reads/s per post the
  counters cost one statement per 60 reads).
- **Signed-in readers** read the counters and their own like fresh, in one statement: a
  reader always sees their own like, view and comment on their next read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select

from stratabase.auth.principal import Principal
from stratabase.cache import Cache
from stratabase.cache.keys import POST_STATS
from stratabase.db.session import Database
from stratabase.enums import LikeTarget
from stratabase.models import Like, Post, PostStats
from stratabase.schemas.content import PostStatsRead

#: Longest (seconds) an anonymous reader's counts lag the database: a view counted now is
#: shown to everyone at most this much later; likes and comments show at once.
BOUND = POST_STATS.ttl

_COLUMNS = (
    PostStats.views,
    PostStats.likes,
    PostStats.shares,
    PostStats.comments,
    PostStats.updated_at,
)


def tag_post_stats(post_id: object) -> str:
    """Invalidated by every write that changes a post's like count."""
    return f"post:{post_id}:stats"


def stats_tags(post_id: int) -> list[str]:
    """The tags of a cached counters entry: its own, and the post's comment pages (every
    comment write invalidates those: ``content.comments.tag_comments``)."""
    return [tag_post_stats(post_id), f"post:{post_id}:comments"]


def render(
    post_id: int,
    row: tuple[int, int, int, int, datetime | None] | None,
) -> str:
    """The ``stats`` object of a post page as JSON text (``PostStatsRead``'s exact form)."""
    if row is None:
        return PostStatsRead(post_id=post_id).model_dump_json()
    views, likes, shares, comments, updated_at = row
    return PostStatsRead(
        post_id=post_id,
        views=views,
        likes=likes,
        shares=shares,
        comments=comments,
        updated_at=updated_at,
    ).model_dump_json()


async def cached_stats(db: Database, cache: Cache, post_id: int) -> str:
    """The post's counters as JSON text, at most :data:`BOUND` seconds old (no SQL on a hit)."""

    async def load() -> str:
        async with db.session() as session:
            row = (
                await session.execute(select(*_COLUMNS).where(PostStats.post_id == post_id))
            ).first()
        return render(post_id, tuple(row) if row is not None else None)  # type: ignore[arg-type]

    text: str = await cache.get_or_load(POST_STATS.key(post_id), load, tags=stats_tags(post_id))
    return text


async def fresh_stats(db: Database, viewer: Principal, post_id: int) -> tuple[str, bool]:
    """The post's exact counters (JSON text) and whether ``viewer`` likes it: one statement
    (two for a post without a stats row, which the write paths always create)."""
    liked = exists().where(
        Like.user_id == viewer.user_id,
        Like.target_type == LikeTarget.POST,
        Like.target_id == post_id,
    )
    async with db.session() as session:
        row = (
            await session.execute(
                select(*_COLUMNS, liked.label("liked")).where(PostStats.post_id == post_id)
            )
        ).first()
        if row is None:
            return render(post_id, None), bool(await session.scalar(select(liked)))
    return render(post_id, tuple(row[:5])), bool(row[5])  # type: ignore[arg-type]


async def fresh_many(
    db: Database, viewer: Principal, post_ids: Sequence[int]
) -> dict[int, tuple[dict[str, Any], bool]]:
    """:func:`fresh_stats` for a page of posts, in one statement: each post's exact
    counters (``stats`` as a list page shows them) and whether ``viewer`` likes it."""
    liked = exists().where(
        Like.user_id == viewer.user_id,
        Like.target_type == LikeTarget.POST,
        Like.target_id == Post.id,
    )
    statement = (
        select(Post.id, *_COLUMNS, liked.label("liked"))
        .select_from(Post)
        .outerjoin(PostStats, PostStats.post_id == Post.id)
        .where(Post.id.in_(post_ids))
    )
    async with db.session() as session:
        rows = (await session.execute(statement)).all()
    out: dict[int, tuple[dict[str, Any], bool]] = {}
    for post_id, views, likes, shares, comments, updated_at, likes_it in rows:
        stats: dict[str, Any] = {"post_id": post_id, "views": views or 0, "likes": likes or 0}
        stats.update(shares=shares or 0, comments=comments or 0)
        if views is not None:
            stats["updated_at"] = updated_at
        out[post_id] = (stats, bool(likes_it))
    for post_id in post_ids:  # not found (deleted meanwhile): no counters, not liked
        out.setdefault(
            post_id,
            ({"post_id": post_id, "views": 0, "likes": 0, "shares": 0, "comments": 0}, False),
        )
    return out


__all__ = [
    "BOUND",
    "cached_many",
    "cached_stats",
    "fresh_many",
    "fresh_stats",
    "render",
    "stats_tags",
    "tag_post_stats",
]


async def cached_many(db: Database, cache: Cache, post_ids: Sequence[int]) -> dict[int, str]:
    """:func:`cached_stats` for a page of posts: the hits in one cache round trip, each miss
    loaded (and stored) on its own, so a like or comment committed while it loads can never
    leave an old count cached. Anonymous list pages (feeds, rankings, search) use it: a warm
    page costs no statement for its counters, with the post page's bounds."""
    keys = {POST_STATS.key(post_id): post_id for post_id in post_ids}
    found = await cache.get_many(list(keys))
    out = {keys[key]: text for key, text in found.items()}
    for post_id in post_ids:
        if post_id not in out:
            out[post_id] = await cached_stats(db, cache, post_id)
    return out
