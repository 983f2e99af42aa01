"""What ``stratabase clean`` runs: clear cache namespaces, rebuild the search index.

The seed also rebuilds the search index after a load, because bulk loading writes posts
and users directly, bypassing the per-write index maintenance of the content services.
"""

from __future__ import annotations

from dataclasses import dataclass

from stratabase.db.session import Database
from stratabase.settings import Settings


@dataclass(frozen=True)
class HookResult:
    """What a post-seed hook did, for the seed report: its name, whether it ran, why not."""

    name: str
    done: bool
    detail: str


async def clear_cache_namespaces(db: Database, settings: Settings) -> HookResult:
    """Drop every cache namespace without touching data.

    Embedded, the cache lives inside the serving process: the cache generation is bumped
    and the server flushes it at its next check. With Redis, every namespace is removed
    (SCAN + UNLINK), and every process's local tier is told to flush through the
    invalidation channel (and by the generation, should a message be lost).
    """
    from stratabase.cache.durable import bump_generation
    from stratabase.cache.factory import build_cache

    generation = await bump_generation(db)
    if settings.embedded:
        detail = f"embedded: running servers flush their cache (generation {generation})"
        return HookResult("cache", True, detail)
    from stratabase.content.warming import warm_hot_keys

    cache = build_cache(settings)
    try:
        removed = await cache.clear(None)
        warmed = await warm_hot_keys(db, cache)
    finally:
        await cache.close()
    return HookResult(
        "cache", True, f"removed {removed:,} entries from every namespace, warmed {warmed}"
    )


async def rebuild_search_index(db: Database, settings: Settings) -> HookResult:
    """Rebuild the full-text search index from the posts and users."""
    from stratabase.search.rebuild import rebuild

    counts = await rebuild(db)
    return HookResult(
        "search", True, f"indexed {counts['posts']} posts and {counts['users']} users"
    )


CLEAN_HOOKS = (clear_cache_namespaces, rebuild_search_index)
