"""Platform statistics (the seeds' ``getPlatformStats()``): five counts, cached.

The counts are exact, not estimates: one statement of five scalar subqueries, read through
the cache (``analytics:platform``, tag ``stats``). Every API write that changes a count
(sign-up and account status, post create/publish/archive/hide/delete, comment create and
delete, like and unlike, follow, unfollow and block) invalidates ``stats`` after commit, so
a read after a committed write never shows the old numbers; a hit issues no statement.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from stratabase.cache import Cache
from stratabase.cache.keys import ANALYTICS, TAG_STATS
from stratabase.db.session import Database
from stratabase.enums import PostStatus, UserStatus
from stratabase.models import Comment, Follow, Like, Post, User

#: The cache key of the platform counts.
STATS_KEY = ANALYTICS.key("platform")


def _count(model: Any, *where: Any) -> Any:
    return select(func.count()).select_from(model).where(*where).scalar_subquery()


async def load_platform_stats(db: Database) -> dict[str, int]:
    """The five counts, straight from the database (one statement)."""
    statement = select(
        _count(User, User.status != UserStatus.DELETED).label("users"),
        _count(Post, Post.status == PostStatus.PUBLISHED).label("posts"),
        _count(Comment, Comment.deleted_at.is_(None)).label("comments"),
        _count(Like).label("likes"),
        _count(Follow).label("follows"),
    )
    async with db.session() as session:
        row = (await session.execute(statement)).one()
    return {name: int(value) for name, value in row._mapping.items()}


async def platform_stats(db: Database, cache: Cache) -> dict[str, int]:
    """Users (not deleted), published posts, live comments, likes and follows (cached)."""

    async def load() -> dict[str, int]:
        return await load_platform_stats(db)

    stats: dict[str, int] = await cache.get_or_load(STATS_KEY, load, tags=[TAG_STATS])
    return stats
