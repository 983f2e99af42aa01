"""Build the configured cache once (``create_app``, the CLI) and report its health.

``build_cache(settings)``: the in-process cache when ``STRATABASE_REDIS_URL`` is empty
(embedded), else the two-tier cache (local LRU in front of Redis under
``STRATABASE_REDIS_PREFIX``). ``cache_health(cache)`` is the ``cache`` entry of the health
report: *ok*, or *degraded* while Redis is unreachable or the invalidation channel is down
(the cache then answers from its local tier and loaders, and recovers by itself).
"""

from __future__ import annotations

from typing import Any

from stratabase.cache.breaker import CircuitBreaker
from stratabase.cache.core import SmartCache
from stratabase.cache.memory import MemoryStore
from stratabase.cache.protocol import Cache
from stratabase.cache.redis import CONNECT_TIMEOUT, SOCKET_TIMEOUT, RedisStore, connect
from stratabase.cache.two_tier import TwoTierStore
from stratabase.settings import Settings

#: Embedded cache bounds.
MEMORY_ENTRIES = 50_000
MEMORY_BYTES = 128 * 1024 * 1024
#: Local tier bounds in front of Redis (each API process has one).
LOCAL_ENTRIES = 10_000
LOCAL_BYTES = 64 * 1024 * 1024
#: A cache call waits at most this long for a pooled Redis connection, then raises (as
#: long as a command may take: a queue that long means Redis is not keeping up).
POOL_TIMEOUT = SOCKET_TIMEOUT


def pool_size(settings: Settings) -> int:
    """Redis connections per process: enough for every request the DB pool lets in, twice."""
    return max(32, 2 * settings.pool_max_size)


def memory_cache(*, max_entries: int = MEMORY_ENTRIES, max_bytes: int = MEMORY_BYTES) -> SmartCache:
    """The in-process cache (embedded mode), bounded by entries and bytes."""
    return SmartCache(MemoryStore(max_entries=max_entries, max_bytes=max_bytes), mode="memory")


def redis_store(
    redis_url: str,
    prefix: str,
    *,
    max_connections: int = 50,
    pool_timeout: float = POOL_TIMEOUT,
    socket_timeout: float = SOCKET_TIMEOUT,
    connect_timeout: float = CONNECT_TIMEOUT,
    breaker: CircuitBreaker | None = None,
) -> RedisStore:
    """A Redis store over a fair, bounded connection pool with tight timeouts."""
    client = connect(
        redis_url,
        max_connections=max_connections,
        pool_timeout=pool_timeout,
        socket_timeout=socket_timeout,
        connect_timeout=max(connect_timeout, socket_timeout),
    )
    return RedisStore(client, prefix, breaker=breaker, pool_timeout=pool_timeout)


def redis_cache(redis_url: str, prefix: str, **options: Any) -> SmartCache:
    """Redis only, no local tier (every read is a round trip)."""
    return SmartCache(redis_store(redis_url, prefix, **options), mode="redis")


def two_tier_cache(
    redis_url: str,
    prefix: str,
    *,
    max_entries: int = LOCAL_ENTRIES,
    max_bytes: int = LOCAL_BYTES,
    degraded_ttl: float = 0.0,
    **options: Any,
) -> SmartCache:
    """A local memory tier over Redis, kept coherent by the invalidation channel."""
    local = MemoryStore(max_entries=max_entries, max_bytes=max_bytes, tier="local")
    store = TwoTierStore(
        local, redis_store(redis_url, prefix, **options), redis_url, degraded_ttl=degraded_ttl
    )
    return SmartCache(store, mode="two-tier")


def build_cache(settings: Settings) -> SmartCache:
    """The cache for these settings; nothing connects until first use."""
    if settings.embedded:
        return memory_cache()
    return two_tier_cache(
        settings.redis_url, settings.redis_prefix, max_connections=pool_size(settings)
    )


async def cache_health(cache: Cache) -> dict[str, Any]:
    """``{"status": "ok" | "degraded", "mode": …, …}`` for the health report."""
    if not isinstance(cache, SmartCache):
        return {"status": "ok", "mode": cache.mode}
    store = cache.store
    report: dict[str, Any] = {"mode": cache.mode, "totals": cache.metrics.totals()}
    report.update(await store.probe())
    status = store.status()
    report["store"] = status
    degraded = report.get("status") != "ok"
    if isinstance(store, TwoTierStore):
        if not store.started:  # first use: give the subscription a moment
            await store.wait_subscribed(timeout=0.5)
        degraded = degraded or not store.channel_ok
        report["channel"] = "up" if store.channel_ok else "down"
    report["status"] = "degraded" if degraded else "ok"
    return report
