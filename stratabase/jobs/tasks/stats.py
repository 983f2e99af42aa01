"""``stats.flush``: buffered view counters into ``post_stats`` in one upsert per flush.

Counting every view with a database write would make the hottest read path a write path.
Views are counted in a buffer instead — in process (embedded) or in a Redis hash
(production) — and this periodic task moves them into ``post_stats``. The buffer is drained
atomically (the Redis hash is renamed away), so a view is counted once even with several
workers flushing.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db import portable
from stratabase.db.types import utcnow
from stratabase.jobs.registry import Registry, TaskContext, TaskResult, TaskSpec
from stratabase.jobs.schedule import Periodic
from stratabase.models.content import Post, PostStats

RESOURCE = "view_counters"


class ViewCounters(Protocol):
    """Where views are buffered until flushed."""

    async def add(self, post_id: int, views: int = 1) -> None:
        """Count ``views`` more views of a post, without touching the database."""

    async def drain(self) -> dict[int, int]:
        """Take every buffered count (the buffer is then empty)."""
        ...

    async def restore(self, counts: dict[int, int]) -> None:
        """Put counts back after a failed flush."""
        ...


class MemoryViewCounters:
    """The embedded buffer: one per process, shared by the API and the in-process worker."""

    def __init__(self) -> None:
        self._counts: Counter[int] = Counter()

    async def add(self, post_id: int, views: int = 1) -> None:
        """Count views in this process's buffer."""
        self._counts[post_id] += views

    async def drain(self) -> dict[int, int]:
        """Take the buffer and start an empty one (swapped, so no count is lost or doubled)."""
        counts, self._counts = dict(self._counts), Counter()
        return counts

    async def restore(self, counts: dict[int, int]) -> None:
        """Add counts back after a failed flush, on top of any counted meanwhile."""
        self._counts.update(counts)


class RedisViewCounters:
    """A Redis hash ``<prefix>post_views``: HINCRBY to count, RENAME away to drain."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self._redis = redis
        self._key = f"{prefix}post_views"

    async def add(self, post_id: int, views: int = 1) -> None:
        """HINCRBY: atomic across processes, so API instances share one buffer."""
        await self._redis.hincrby(self._key, str(post_id), views)

    async def drain(self) -> dict[int, int]:
        """RENAME the hash away, then read it: a view counted during the drain lands in a new hash,
        and two workers never take the same counts."""
        taken = f"{self._key}:draining:{uuid.uuid4().hex}"
        try:
            await self._redis.rename(self._key, taken)
        except Exception as exc:  # no such key: nothing was counted
            if "no such key" in str(exc).lower():
                return {}
            raise
        raw = await self._redis.hgetall(taken)
        await self._redis.delete(taken)
        return {int(k): int(v) for k, v in raw.items()}

    async def restore(self, counts: dict[int, int]) -> None:
        """Add counts back (one MULTI), after a failed flush, on top of any counted meanwhile."""
        async with self._redis.pipeline(transaction=True) as pipe:
            for post_id, views in counts.items():
                pipe.hincrby(self._key, str(post_id), views)
            await pipe.execute()


async def add_views(session: AsyncSession, counts: dict[int, int]) -> int:
    """Add ``counts`` to ``post_stats.views`` in one upsert; deleted posts are skipped."""
    if not counts:
        return 0
    existing = await session.execute(select(Post.id).where(Post.id.in_(list(counts))))
    rows = [
        {"post_id": post_id, "views": counts[post_id], "updated_at": utcnow()}
        for (post_id,) in existing
        if counts[post_id] > 0
    ]
    if not rows:
        return 0
    statement = portable.upsert(
        session,
        PostStats,
        rows,
        on=[PostStats.post_id],
        update=lambda new: {"views": PostStats.views + new.views, "updated_at": new.updated_at},
    )
    await session.execute(statement)
    return len(rows)


async def flush(ctx: TaskContext, _payload: dict[str, Any]) -> TaskResult:
    """The task: drain the buffer into ``post_stats``; on failure the counts go back to the buffer,
    so views are never lost."""
    counters: ViewCounters | None = ctx.resources.get(RESOURCE)
    if counters is None:
        return {"posts": 0, "views": 0}
    counts = await counters.drain()
    try:
        posts = await ctx.db.transaction(lambda session: add_views(session, counts))
    except BaseException:
        await counters.restore(counts)
        raise
    return {"posts": posts, "views": sum(counts.values())}


def register(registry: Registry, *, periodic: bool = True) -> None:
    """Add ``stats.flush`` (and, unless ``periodic`` is false, its run every 30 s) to
    ``registry``."""
    registry.add(TaskSpec("stats.flush", flush, queue="maintenance", max_attempts=3))
    if periodic:
        registry.add_periodic(Periodic("stats.flush", "stats.flush", every=30))
