"""Health probes of the database layer: can we reach the database and Redis, how fast,
how busy is the pool. The report that also asks the cache, the queue and the rate limiter
is composed above both layers, in :mod:`stratabase.observability.health`."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from sqlalchemy import text

from stratabase.db.session import Database
from stratabase.exceptions import StratabaseError

Status = Literal["ok", "degraded", "down"]

#: Seconds the Redis ping of a health check may take (connect and answer), as long as the
#: rate limiter's: a healthy server answers in well under a millisecond, and a hung one
#: must not hold a load balancer's probe (a slow answer only reads as "degraded" once).
REDIS_TIMEOUT = 0.25


async def check_database(db: Database) -> dict[str, Any]:
    """Round-trip latency, and pool and query figures (details) of the database."""
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


async def check_redis(redis_url: str, *, timeout: float = REDIS_TIMEOUT) -> dict[str, Any]:
    """Ping Redis (connect and answer within ``timeout``). With no URL configured, the
    embedded in-process backends are in use."""
    if not redis_url:
        return {"status": "ok", "mode": "embedded"}
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError

    client = Redis.from_url(
        redis_url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):  # the whole ping, handshake included
            await client.ping()
    except TimeoutError:
        return {"status": "down", "mode": "redis", "error": f"no answer within {timeout:g}s"}
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
