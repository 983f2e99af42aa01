"""Tell running servers' caches that a command changed data behind the API.

CLI commands write through their own connections, not through the services' write paths,
so nothing invalidated what they changed. ``announced(db, work)`` runs a command's work and
then:

- bumps the database's cache generation: every serving process (embedded too, whose cache
  nobody else can reach) flushes its in-process tier at its next check (at most
  ``durable.CHECK_INTERVAL`` later);
- with Redis, clears the shared tier (or only ``tags``), which also tells every process's
  local tier over the invalidation channel.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from stratabase.cache.durable import bump_generation
from stratabase.cache.errors import CacheError
from stratabase.db.monitor import bulk_work
from stratabase.db.session import Database

logger = logging.getLogger("stratabase.cache")

T = TypeVar("T")


async def announce_change(db: Database, *, tags: Sequence[str] | None = None) -> str:
    """Bump the generation; with Redis, clear it (all, or ``tags``). Returns what was done."""
    generation = await bump_generation(db)
    done = f"cache generation {generation}"
    if db.settings.embedded:
        return done
    from stratabase.cache.factory import build_cache

    cache = build_cache(db.settings)
    try:
        if tags is None:
            removed = await cache.clear(None)
            return f"{done}, removed {removed:,} shared entries"
        await cache.invalidate_tags(tags)
        return f"{done}, invalidated {', '.join(tags)}"
    except CacheError as exc:  # the data change stands; say what is left to do
        logger.error("could not clear the shared cache (run `stratabase cache clear`): %s", exc)
        return f"{done}; shared cache NOT cleared: {exc}"
    finally:
        await cache.close()


async def announced(db: Database, work: Awaitable[T], *, tags: Sequence[str] | None = None) -> T:
    """Await a command's ``work``, then :func:`announce_change` (only if it succeeded).

    The announcement is part of the command's bulk work: its statements are timed and
    counted, but not reported as slow queries (quiet means quiet)."""
    result = await work
    with bulk_work():
        await announce_change(db, tags=tags)
    return result
