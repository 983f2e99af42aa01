"""The cache layer: in-process, Redis, or both tiers; tags tied to commits; stampede-proof.

Build one per process with :func:`build_cache` and pass it down. Read with
``cache.get_or_load(key, loader, tags=[…])`` or the :func:`cached` decorator; invalidate from
a write path with :func:`invalidate_tags_after_commit`. See ``docs/cache.md``.
"""

from __future__ import annotations

from stratabase.cache.consistency import delete_after_commit, invalidate_tags_after_commit
from stratabase.cache.core import SmartCache, WarmSpec
from stratabase.cache.decorators import cached
from stratabase.cache.errors import CacheError, CacheUnavailable
from stratabase.cache.factory import (
    build_cache,
    cache_health,
    memory_cache,
    redis_cache,
    two_tier_cache,
)
from stratabase.cache.protocol import Cache

__all__ = [
    "Cache",
    "CacheError",
    "CacheUnavailable",
    "SmartCache",
    "WarmSpec",
    "build_cache",
    "cache_health",
    "cached",
    "delete_after_commit",
    "invalidate_tags_after_commit",
    "memory_cache",
    "redis_cache",
    "two_tier_cache",
]
