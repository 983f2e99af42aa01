"""Health probes: can we reach the database and Redis, how fast, how busy is the pool."""

from __future__ import annotations

import time
from typing import Any, Literal

from sqlalchemy import text

from stratabase.cache import Cache, cache_health
from stratabase.db.session import Database
from stratabase.exceptions import StratabaseError
from stratabase.ratelimit import RateLimiter

Status = Literal["ok", "degraded", "down"]


async def check_database(db: Database) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        async with db.session() as session:
            await session.execute(text("SELECT 1"))
    except (StratabaseError, OSError) as exc:
        return {"status": "down", "backend": db.backend, "error": str(exc).splitlines()[0]}
    latency_ms = (time.perf_counter() - started) * 1000
    return {
        "status": "ok",
        "backend": db.backend,
        "latency_ms": round(latency_ms, 3),
        "pool": db.engines.pool_stats(),
        "queries": db.monitor.stats.as_dict(),
    }


async def check_redis(redis_url: str, *, timeout: float = 2.0) -> dict[str, Any]:
    """Ping Redis. With no URL configured, the embedded in-process backends are in use."""
    if not redis_url:
        return {"status": "ok", "mode": "embedded"}
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
    started = time.perf_counter()
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        return {"status": "down", "mode": "redis", "error": str(exc).splitlines()[0]}
    finally:
        await client.aclose()
    return {
        "status": "ok",
        "mode": "redis",
        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
    }


def overall(checks: dict[str, dict[str, Any]]) -> Status:
    """Down if the database is down; degraded if anything else is."""
    if checks.get("database", {}).get("status") != "ok":
        return "down"
    if any(check.get("status") != "ok" for check in checks.values()):
        return "degraded"
    return "ok"


async def check_all(
    db: Database,
    redis_url: str,
    cache: Cache | None = None,
    limiter: RateLimiter | None = None,
) -> dict[str, Any]:
    """Database and Redis; with ``cache`` and ``limiter``, also those (degraded while Redis
    is away: the cache answers from its local tier, the limits are kept per process)."""
    checks = {
        "database": await check_database(db),
        "redis": await check_redis(redis_url),
    }
    if cache is not None:
        checks["cache"] = await cache_health(cache)
    if limiter is not None:
        checks["rate_limiter"] = await limiter.health()
    return {"status": overall(checks), "checks": checks}
