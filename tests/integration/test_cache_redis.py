"""Both Redis-backed tiers against a real Redis: TTL, tags, races, stampedes, pool pressure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from stratabase.cache import CacheUnavailable, SmartCache, redis_cache, two_tier_cache
from stratabase.cache.two_tier import TwoTierStore

TIERS = ("redis", "two-tier")
#: Sized for a busy machine: a test that fans out 1,000 calls queues for connections, and a
#: queue slowed by load must not turn into "pool exhausted" (pool pressure has its own test).
POOL_TIMEOUT = 60.0
#: The cross-instance single-flight holds its lock until every caller has arrived.
LOCK_SECONDS = 120.0


async def until(condition: Callable[[], Awaitable[bool]], what: str, within: float = 30) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"{what} (waited {within} s)"
        await asyncio.sleep(0.01)


async def _make(kind: str, redis_url: str, prefix: str, **options: object) -> SmartCache:
    if kind == "redis":
        return redis_cache(redis_url, prefix, **options)
    cache = two_tier_cache(redis_url, prefix, **options)
    assert isinstance(cache.store, TwoTierStore)
    assert await cache.store.wait_subscribed()
    return cache


@pytest.fixture(params=TIERS)
async def cache(
    request: pytest.FixtureRequest, redis_url: str, redis_prefix: str
) -> AsyncIterator[SmartCache]:
    made = await _make(request.param, redis_url, redis_prefix, pool_timeout=POOL_TIMEOUT)
    yield made
    await made.close()


async def test_ttl_expire_and_counters(cache: SmartCache) -> None:
    # Redis keeps time, so the test waits for expiry as a condition, never for a duration.
    await cache.set("post:1", {"a": 1}, ttl=60)
    remaining = await cache.ttl("post:1")
    assert remaining is not None and 50 < remaining <= 60
    assert await cache.get("post:1") == {"a": 1}
    assert await cache.expire("post:1", 0.2)  # shorten: gone soon after

    async def expired() -> bool:
        return await cache.get("post:1") is None

    await until(expired, "post:1 never expired")
    assert await cache.ttl("post:1") is None
    assert not await cache.expire("post:1", 5)
    await cache.set("post:2", 2, ttl=30)
    assert await cache.expire("post:2", 300)  # extend: the new lifetime is Redis's
    extended = await cache.ttl("post:2")
    assert extended is not None and 250 < extended <= 300
    assert await cache.get("post:2") == 2
    assert await cache.incr("ratelimit:ip", 3, ttl=60) == 3
    assert await cache.decr("ratelimit:ip") == 2
    limit = await cache.ttl("ratelimit:ip")
    assert limit is not None and 50 < limit <= 60


async def test_bulk_operations_and_namespace_clear(cache: SmartCache) -> None:
    await cache.set_many({f"post:{i}": i for i in range(50)})
    await cache.set("feed:1", [1, 2, 3])
    assert await cache.get_many(["post:3", "post:4", "post:99"]) == {"post:3": 3, "post:4": 4}
    assert await cache.delete("post:3", "post:99") == 1
    assert await cache.exists("post:4") and not await cache.exists("post:3")
    assert await cache.clear("post") == 49  # SCAN + UNLINK, never KEYS
    assert await cache.get("post:4") is None
    assert await cache.get("feed:1") == [1, 2, 3]


async def test_no_shared_object_between_hits(cache: SmartCache) -> None:
    await cache.set("post:1", {"list": [1]})
    for _ in range(3):  # Redis hit, then local hits on the two-tier cache
        value = await cache.get("post:1")
        value["list"].append("mutated")
        value["new"] = True
    assert await cache.get("post:1") == {"list": [1]}


async def test_tags_including_the_short_ttl_case(cache: SmartCache) -> None:
    await cache.set("post:long", "long", ttl=60, tags=["user:1", "category:2"])
    await cache.set("post:short", "short", ttl=0.2, tags=["user:1"])
    await cache.set("post:other", "other", tags=["category:2"])

    async def short_gone() -> bool:
        return await cache.get("post:short") is None

    await until(short_gone, "post:short never expired")
    assert await cache.get("post:long") == "long"  # the short write shortened nothing
    await cache.invalidate_tags(["user:1"])
    assert await cache.get("post:long") is None
    assert await cache.get("post:other") == "other"
    value = await cache.get_or_load("post:long", lambda: "reloaded", tags=["user:1"])
    assert value == "reloaded" and await cache.get("post:long") == "reloaded"


async def test_tag_invalidation_of_1000_keys(cache: SmartCache) -> None:
    names = [f"post:{i}" for i in range(1000)]
    await asyncio.gather(*(cache.set(name, 1, tags=["category:9"]) for name in names))
    assert len(await cache.get_many(names)) == 1000
    await cache.invalidate_tags(["category:9"])
    assert await cache.get_many(names) == {}


async def test_stale_fill_race(cache: SmartCache) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_loader() -> str:
        started.set()
        await release.wait()
        return "old"

    reader = asyncio.create_task(cache.get_or_load("post:7", slow_loader, tags=["post:7"]))
    await started.wait()
    await cache.set("post:7", "new")  # a newer write lands while the loader runs
    release.set()
    assert await reader == "old"
    assert await cache.get("post:7") == "new"

    started.clear()
    release.clear()
    await cache.delete("post:7")
    reader = asyncio.create_task(cache.get_or_load("post:7", slow_loader, tags=["post:7"]))
    await started.wait()
    await cache.delete("post:7")  # an invalidating delete while the loader runs
    release.set()
    await reader
    assert await cache.get("post:7") is None  # the old read was not put back


async def test_single_flight_across_two_processes_worth_of_caches(
    cache: SmartCache, redis_url: str, redis_prefix: str
) -> None:
    """1000 concurrent misses split over two cache instances → exactly one load."""
    other = await _make(cache.mode, redis_url, redis_prefix, pool_timeout=POOL_TIMEOUT)
    for instance in (cache, other):  # the lock outlives any load delay on a busy machine
        instance.lock_ttl = instance.lock_wait = LOCK_SECONDS
    calls = 0
    release = asyncio.Event()

    async def loader() -> dict[str, int]:
        nonlocal calls
        calls += 1
        await release.wait()
        return {"v": 42}

    def totals(name: str) -> int:
        return int(cache.stats()["totals"][name] + other.stats()["totals"][name])

    tiers = 2 if cache.mode == "two-tier" else 1  # a two-tier miss counts in both tiers

    async def all_arrived() -> bool:  # every caller missed, and one instance waits on the lock
        return totals("misses") == 1000 * tiers and totals("lock_waits") >= 1

    try:
        callers = asyncio.gather(
            *(
                (cache if i % 2 else other).get_or_load("post:hot", loader, tags=["post:hot"])
                for i in range(1000)
            )
        )
        await until(all_arrived, "the 1000 callers never all arrived", within=60)
        release.set()
        results = await callers
    finally:
        release.set()
        await other.close()
    assert calls == 1
    assert results == [{"v": 42}] * 1000
    assert cache.stats()["totals"]["lock_waits"] + other.stats()["totals"]["lock_waits"] >= 1


async def test_pool_pressure_raises_never_silently_misses(
    redis_url: str, redis_prefix: str
) -> None:
    for kind in TIERS:
        cache = await _make(kind, redis_url, redis_prefix, max_connections=2, pool_timeout=0.005)
        try:
            await cache.set("post:1", {"v": 1})
            if kind == "two-tier":
                await cache.store.local.clear(None)  # type: ignore[attr-defined]
            # 200 tasks on 2 connections: most checkouts queue past the 5 ms pool timeout
            outcomes = await asyncio.gather(
                *(cache.get("post:1", "MISSING") for _ in range(200)), return_exceptions=True
            )
            assert "MISSING" not in outcomes and None not in outcomes
            errors = [r for r in outcomes if isinstance(r, Exception)]
            assert all(isinstance(e, CacheUnavailable) for e in errors), errors[:1]
            assert errors and "pool exhausted" in str(errors[0])
            assert any(r == {"v": 1} for r in outcomes)
            # get_or_load turns the same pressure into values from the loader, never None
            loaded = await asyncio.gather(
                *(cache.get_or_load("post:2", lambda: {"v": 2}) for _ in range(100))
            )
            assert loaded == [{"v": 2}] * 100
        finally:
            await cache.close()
