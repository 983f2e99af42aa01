"""The cache layer: in-process, Redis, or both tiers; tags tied to commits; stampede-proof.

Build one per process with :func:`build_cache` and pass it down. Read with
``cache.get_or_load(key, loader, tags=[…])`` or the :func:`cached` decorator; invalidate from
a write path with :func:`invalidate_tags_after_commit`. See ``docs/cache.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Where each name lives. They are imported on first use, so a command that only bumps the
#: cache generation (``cache.announce``, ``cache.durable``) does not pay for redis-py and
#: every tier it never builds.
_HOMES = {
    "Cache": "protocol",
    "CacheError": "errors",
    "CacheUnavailable": "errors",
    "SmartCache": "core",
    "WarmSpec": "core",
    "build_cache": "factory",
    "cache_health": "factory",
    "cached": "decorators",
    "delete_after_commit": "consistency",
    "invalidate_tags_after_commit": "consistency",
    "memory_cache": "factory",
    "redis_cache": "factory",
    "two_tier_cache": "factory",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


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
