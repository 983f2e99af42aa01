"""``rankings.refresh``: recompute the trending and popular rankings every 30 s.

Serving trending or popular then reads a stored ranking instead of scoring a thousand
candidates per request; see :mod:`stratabase.feeds.rankings` for what is precomputed, where
it is stored and the staleness bound (45 s). Without a cache resource there is nowhere to
store a ranking, and the task does nothing (requests compute their own).
"""

from __future__ import annotations

from typing import Any

from stratabase.cache import Cache
from stratabase.feeds import rankings
from stratabase.jobs.registry import Registry, TaskContext, TaskResult, TaskSpec
from stratabase.jobs.schedule import Periodic
from stratabase.jobs.tasks.episodes import CACHE

#: The task's name, and its periodic job's.
TASK = "rankings.refresh"


async def refresh(ctx: TaskContext, _payload: dict[str, Any]) -> TaskResult:
    """Store every precomputed ranking; a no-op (``rankings: 0``) without a cache."""
    cache: Cache | None = ctx.resources.get(CACHE)
    if cache is None:
        return {"rankings": 0}
    return {"rankings": await rankings.refresh(ctx.db, cache)}


def register(registry: Registry, *, periodic: bool = True) -> None:
    """Add the task (one attempt, 25 s timeout) and, unless ``periodic`` is false, its
    every-30-s schedule."""
    # One attempt: the next period recomputes anyway.
    registry.add(TaskSpec(TASK, refresh, queue="maintenance", max_attempts=1, timeout=25.0))
    if periodic:
        registry.add_periodic(Periodic(TASK, TASK, every=rankings.REFRESH_SECONDS))
