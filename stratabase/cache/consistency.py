"""Tie invalidation to the database transaction: nothing is invalidated for a rolled-back write.

A write path registers what it invalidates *inside* its transaction; the hooks run only after
the commit succeeded (``stratabase.db.session.after_commit``), so a reader can never reload
the old row after the invalidation and cache it as new::

    async def rename_post(db: Database, cache: Cache, post_id: int, title: str) -> None:
        async def work(session: AsyncSession) -> None:
            post = await session.get(Post, post_id)
            post.title = title
            invalidate_tags_after_commit(session, cache, [tag_post(post_id)])
        await db.transaction(work)

A failed invalidation after commit is logged and counted; on the two-tier cache it has
already been applied to this process and is replayed to Redis when Redis answers again.

On a two-tier cache bound to the database (``cache.bind(db)``), the tags and keys are also
written to the ``cache_invalidations`` outbox in the same transaction, and the row is deleted
once Redis has them: if this process dies before delivering them (Redis down, or a crash
right after commit), the next process that reaches Redis replays them
(:mod:`stratabase.cache.durable`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.cache.durable import CacheSync, bump_generation_in
from stratabase.cache.errors import CacheError
from stratabase.cache.protocol import Cache
from stratabase.db.session import after_commit

logger = logging.getLogger("stratabase.cache")


def _outbox(cache: Cache) -> CacheSync | None:
    outbox = getattr(cache, "outbox", None)
    return outbox if isinstance(outbox, CacheSync) else None


def invalidate_tags_after_commit(session: AsyncSession, cache: Cache, tags: Iterable[str]) -> None:
    """Invalidate ``tags`` once this session's transaction commits (never on rollback)."""
    pending = tuple(str(tag) for tag in tags)
    outbox = _outbox(cache)
    token = outbox.record(session, pending, ()) if outbox is not None and pending else None

    async def hook() -> None:
        try:
            await cache.invalidate_tags(pending)
        except CacheError as exc:
            logger.error("after-commit invalidation of tags %s failed: %s", pending, exc)
            return
        if token is not None and outbox is not None:
            outbox.delivered(token)

    after_commit(session, hook)


def delete_after_commit(session: AsyncSession, cache: Cache, keys: Iterable[str]) -> None:
    """Delete ``keys`` once this session's transaction commits (never on rollback)."""
    pending = tuple(keys)
    outbox = _outbox(cache)
    token = outbox.record(session, (), pending) if outbox is not None and pending else None

    async def hook() -> None:
        try:
            await cache.delete(*pending)
        except CacheError as exc:
            logger.error("after-commit delete of %s failed: %s", pending, exc)
            return
        if token is not None and outbox is not None:
            outbox.delivered(token)

    after_commit(session, hook)


async def stale_after_commit(
    session: AsyncSession, cache: Cache | None, tags: Iterable[str]
) -> None:
    """:func:`invalidate_tags_after_commit`, or — for a writer that holds no cache of the
    serving processes (an embedded worker run as its own process) — bump the cache
    generation in this transaction, so the servers flush their in-process cache."""
    if cache is not None:
        invalidate_tags_after_commit(session, cache, tags)
    else:
        await bump_generation_in(session)
