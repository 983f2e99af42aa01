"""Health, composed above the database and the cache: liveness, readiness, per-part reports.

- :func:`check_all`: the ``/health`` report (database, Redis, cache, rate limiter);
- :func:`check_ready`: can this process serve: database, cache and queue reachable;
- :func:`check_cache`: latency per tier, breaker state, hit rates;
- :func:`collect_stats`: row counts an operator (or the studio) looks at first.

Every probe is bounded by its own timeout and they run side by side: a hung server costs a
report one timeout.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select

from stratabase.cache import Cache, SmartCache, cache_health
from stratabase.cache.two_tier import TwoTierStore
from stratabase.db.health import check_database, check_redis, overall
from stratabase.db.session import Database
from stratabase.exceptions import StratabaseError
from stratabase.ratelimit import RateLimiter

__all__ = [
    "Stats",
    "check_all",
    "check_cache",
    "check_database",
    "check_queue",
    "check_ready",
    "check_redis",
    "collect_stats",
    "overall",
]

#: What readiness asks, in the order a 503 names them.
READY_CHECKS = ("database", "cache", "queue")


async def check_all(
    db: Database,
    redis_url: str,
    cache: Cache | None = None,
    limiter: RateLimiter | None = None,
) -> dict[str, Any]:
    """Database and Redis; with ``cache`` and ``limiter``, also those (degraded while Redis
    is away: the cache answers from its loaders, the limits are kept per process)."""
    names = ["database", "redis"]
    probes: list[Any] = [check_database(db), check_redis(redis_url)]
    if cache is not None:
        names.append("cache")
        probes.append(cache_health(cache))
    if limiter is not None:
        names.append("rate_limiter")
        probes.append(limiter.health())
    checks = dict(zip(names, await asyncio.gather(*probes), strict=True))
    return {"status": overall(checks), "checks": checks}


async def check_queue(db: Database) -> dict[str, Any]:
    """The job queue (a table of the database): reachable, and how many jobs wait."""
    from stratabase.enums import JobStatus
    from stratabase.models import Job

    started = time.perf_counter()
    try:
        async with db.session() as session:
            queued = await session.scalar(
                select(func.count()).select_from(Job).where(Job.status == JobStatus.QUEUED)
            )
    except (StratabaseError, OSError) as exc:
        return {"status": "down", "error": str(exc).splitlines()[0]}
    return {
        "status": "ok",
        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
        "queued": int(queued or 0),
    }


async def _cache_reachable(cache: Cache | None, redis_url: str) -> dict[str, Any]:
    if redis_url:
        report = await check_redis(redis_url)
        report.pop("mode", None)
        return {"mode": "two-tier", **report}
    return {"status": "ok", "mode": cache.mode if cache is not None else "memory"}


async def check_ready(db: Database, cache: Cache | None, redis_url: str) -> dict[str, Any]:
    """``{"ready": bool, "not_ready": [...], "checks": {database, cache, queue}}``: every
    part this process needs to serve, each with its status (a fresh, bounded connection to
    Redis, not the cache's breaker, so a restarted Redis reads as ready at once)."""
    checks = dict(
        zip(
            READY_CHECKS,
            await asyncio.gather(
                check_database(db), _cache_reachable(cache, redis_url), check_queue(db)
            ),
            strict=True,
        )
    )
    for check in checks.values():  # readiness shows no pool or query details
        check.pop("pool", None)
        check.pop("queries", None)
    not_ready = [name for name in READY_CHECKS if checks[name].get("status") != "ok"]
    return {"ready": not not_ready, "not_ready": not_ready, "checks": checks}


async def _local_latency_ms(cache: SmartCache) -> float:
    store: Any = cache.store
    local = store.local if isinstance(store, TwoTierStore) else store
    started = time.perf_counter()
    await local.fetch("sb-health:probe")
    return round((time.perf_counter() - started) * 1000, 4)


def _hit_rates(snapshot: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    rates: dict[str, Any] = {}
    hits = misses = 0
    for namespace, tiers in snapshot.items():
        ns_hits = sum(tier["hits"] for tier in tiers.values())
        ns_misses = sum(tier["misses"] for tier in tiers.values())
        hits += ns_hits
        misses += ns_misses
        rates[namespace] = (
            round(ns_hits / (ns_hits + ns_misses), 4) if ns_hits + ns_misses else None
        )
    return {"overall": round(hits / (hits + misses), 4) if hits + misses else None, **rates}


async def check_cache(cache: Cache) -> dict[str, Any]:
    """The cache in detail: each tier's latency and state (the Redis breaker), hit rates per
    namespace and overall, and this process's counters per namespace and tier."""
    report = await cache_health(cache)
    if not isinstance(cache, SmartCache):
        return report
    store: Any = cache.store
    tiers: dict[str, Any] = {"local": {"latency_ms": await _local_latency_ms(cache)}}
    if isinstance(store, TwoTierStore):
        tiers["local"].update(store.local.status())
        remote = store.remote.status()
        tiers["redis"] = {
            "status": report.get("status", "ok"),
            "latency_ms": report.get("latency_ms"),
            "breaker": remote.get("breaker"),
            **remote,
        }
    else:
        tiers["local"].update(store.status())
    snapshot = cache.metrics.snapshot()
    return {
        "status": report["status"],
        "mode": cache.mode,
        "tiers": tiers,
        "hit_rate": _hit_rates(snapshot),
        "namespaces": snapshot,
        **({"error": report["error"]} if "error" in report else {}),
    }


@dataclass
class Stats:
    """Row counts an operator looks at first (``/health/stats``, ``stratabase health``)."""

    users: int = 0
    #: ``{kind: {status: posts}}``.
    posts: dict[str, dict[str, int]] = field(default_factory=dict)
    comments: int = 0
    follows: int = 0
    transfers: int = 0
    #: ``{status: jobs}``.
    jobs: dict[str, int] = field(default_factory=dict)
    #: Change-feed subscriptions open in this process (None: the feed is not running).
    change_feed_subscribers: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The counts as JSON."""
        return asdict(self)


async def collect_stats(db: Database, *, subscribers: int | None = None) -> Stats:
    """Count users, posts by kind and status, comments, follows, transfers, jobs by status."""
    from stratabase.models import Comment, Follow, Job, LedgerTransfer, Post, User

    stats = Stats(change_feed_subscribers=subscribers)
    async with db.session() as session:
        stats.users = int(await session.scalar(select(func.count()).select_from(User)) or 0)
        rows = await session.execute(
            select(Post.kind, Post.status, func.count()).group_by(Post.kind, Post.status)
        )
        for kind, status, count in rows:
            stats.posts.setdefault(str(kind), {})[str(status)] = int(count)
        stats.comments = int(await session.scalar(select(func.count()).select_from(Comment)) or 0)
        stats.follows = int(await session.scalar(select(func.count()).select_from(Follow)) or 0)
        stats.transfers = int(
            await session.scalar(select(func.count()).select_from(LedgerTransfer)) or 0
        )
        job_rows = await session.execute(select(Job.status, func.count()).group_by(Job.status))
        stats.jobs = {str(status): int(count) for status, count in job_rows}
    return stats
