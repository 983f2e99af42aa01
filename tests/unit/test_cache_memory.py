"""The in-process cache (embedded mode and the local tier): bounds, TTL, tags, stampedes."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

import pytest
from pydantic import BaseModel

from stratabase.cache import CacheError, SmartCache, cached, memory_cache
from stratabase.cache.breaker import CircuitBreaker
from stratabase.cache.keys import NAMESPACES, POST, TTL, RedisKeys, namespace_of
from stratabase.cache.memory import MemoryStore
from stratabase.exceptions import InvalidInput


class Clock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def until(condition: Callable[[], Awaitable[bool]], what: str, within: float = 30) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"{what} (waited {within} s)"
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def cache(clock: Clock) -> SmartCache:
    return SmartCache(MemoryStore(clock=clock), mode="memory")


async def test_memory_cache_defaults_to_wall_time() -> None:
    cache = memory_cache()
    await cache.set("post:1", 1, ttl=60)
    remaining = await cache.ttl("post:1")
    assert remaining is not None and 59 < remaining <= 60


async def test_ttl_expires_and_reports_remaining(cache: SmartCache, clock: Clock) -> None:
    await cache.set("post:1", {"title": "a"}, ttl=0.2)
    assert await cache.ttl("post:1") == pytest.approx(0.2)
    assert await cache.exists("post:1")
    clock.advance(0.15)
    assert await cache.ttl("post:1") == pytest.approx(0.05)
    assert await cache.get("post:1") == {"title": "a"}
    clock.advance(0.05)
    assert await cache.get("post:1") is None
    assert not await cache.exists("post:1")
    assert await cache.ttl("post:1") is None


async def test_expire_shortens_and_extends(cache: SmartCache, clock: Clock) -> None:
    await cache.set("post:1", 1, ttl=0.3)
    assert await cache.expire("post:1", 5)
    clock.advance(0.35)
    assert await cache.get("post:1") == 1
    assert await cache.expire("post:1", 0.05)
    clock.advance(0.04)
    assert await cache.get("post:1") == 1
    clock.advance(0.01)
    assert await cache.get("post:1") is None
    assert not await cache.expire("post:1", 5)


async def test_lru_bound_by_entries_evicts_least_recently_used() -> None:
    store = MemoryStore(max_entries=3)
    cache = SmartCache(store, mode="memory")
    for i in range(3):
        await cache.set(f"post:{i}", i)
    assert await cache.get("post:0") == 0  # now most recently used
    await cache.set("post:3", 3)
    assert len(store) == 3
    assert await cache.get("post:1") is None  # the least recently used went
    assert [await cache.get(f"post:{i}") for i in (0, 2, 3)] == [0, 2, 3]
    assert store.evictions == 1


async def test_lru_bound_by_bytes() -> None:
    store = MemoryStore(max_entries=1000, max_bytes=10_000)
    cache = SmartCache(store, mode="memory")
    for i in range(20):
        await cache.set(f"post:{i}", "x" * 1000)
        assert store.bytes <= 10_000
    assert 5 <= len(store) < 10
    assert await cache.get("post:19") == "x" * 1000
    assert await cache.get("post:0") is None
    await cache.set("post:huge", "y" * 20_000)  # larger than the whole cache: not stored
    assert await cache.get("post:huge") is None
    assert store.bytes <= 10_000


async def test_hits_never_share_a_mutable_object(cache: SmartCache) -> None:
    original = {"tags": ["a"], "stats": {"likes": 1}}
    await cache.set("post:1", original)
    original["tags"].append("leak")  # the caller's object is not the stored one
    first = await cache.get("post:1")
    first["tags"].append("mutated")
    first["stats"]["likes"] = 999
    assert await cache.get("post:1") == {"tags": ["a"], "stats": {"likes": 1}}
    loaded = await cache.get_or_load("post:2", lambda: {"n": [1]})
    loaded["n"].append(2)
    assert await cache.get_or_load("post:2", lambda: {"n": ["reloaded"]}) == {"n": [1]}


async def test_tag_invalidation_hits_every_carrier_only(cache: SmartCache) -> None:
    for i in range(1000):
        await cache.set(f"post:{i}", i, tags=["category:7"] if i % 2 else ["category:8"])
    await cache.invalidate_tags(["category:7"])
    found = await cache.get_many([f"post:{i}" for i in range(1000)])
    assert sorted(found) == sorted(f"post:{i}" for i in range(0, 1000, 2))
    await cache.set("post:1", "again", tags=["category:7"])  # new entries use the new version
    assert await cache.get("post:1") == "again"


async def test_short_ttl_write_does_not_shorten_a_tag(cache: SmartCache, clock: Clock) -> None:
    """cashews' fault: a short-TTL write shortened the tag set, so invalidation missed keys."""
    await cache.set("post:long", "long", ttl=60, tags=["user:1"])
    await cache.set("post:short", "short", ttl=0.1, tags=["user:1"])
    clock.advance(0.15)
    assert await cache.get("post:short") is None
    assert await cache.get("post:long") == "long"  # its own lifetime is untouched
    await cache.invalidate_tags(["user:1"])
    assert await cache.get("post:long") is None  # and the tag still reaches it


async def test_single_flight_1000_concurrent_misses_one_load(cache: SmartCache) -> None:
    calls = 0
    release = asyncio.Event()

    async def loader() -> dict[str, int]:
        nonlocal calls
        calls += 1
        await release.wait()
        return {"v": 1}

    callers = asyncio.gather(*(cache.get_or_load("post:9", loader) for _ in range(1000)))

    async def all_waiting() -> bool:
        return bool(cache.stats()["totals"]["misses"] == 1000)

    await until(all_waiting, "the 1000 callers never all missed")
    release.set()  # only now can the one load finish: every caller met it in flight
    results = await callers
    assert calls == 1
    assert all(result == {"v": 1} for result in results)
    assert len({id(result) for result in results}) == 1000  # each caller its own copy


async def test_stale_fill_race_slow_loader_cannot_overwrite_newer_write(
    cache: SmartCache,
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow_loader() -> str:
        started.set()
        await release.wait()
        return "old (read before the write)"

    reader = asyncio.create_task(cache.get_or_load("post:5", slow_loader, tags=["post:5"]))
    await started.wait()
    await cache.set("post:5", "new")
    release.set()
    assert await reader == "old (read before the write)"  # its caller gets what it read
    assert await cache.get("post:5") == "new"  # but the cache keeps the newer value
    assert cache.stats()["totals"]["refused_fills"] == 1


async def test_stale_fill_race_with_tag_invalidation(cache: SmartCache) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_loader() -> str:
        started.set()
        await release.wait()
        return "old"

    reader = asyncio.create_task(cache.get_or_load("post:6", slow_loader, tags=["post:6"]))
    await started.wait()
    await cache.invalidate_tags(["post:6"])
    release.set()
    await reader
    assert await cache.get_or_load("post:6", lambda: "fresh", tags=["post:6"]) == "fresh"


async def test_stale_while_revalidate_serves_old_value_once_refreshing(
    cache: SmartCache, clock: Clock
) -> None:
    calls = 0
    release = asyncio.Event()

    async def loader() -> int:
        nonlocal calls
        calls += 1
        if calls > 1:
            await release.wait()
        return calls

    assert await cache.get_or_load("post:1", loader, ttl=0.1, stale_ttl=10) == 1
    clock.advance(0.12)
    stale = await asyncio.gather(
        *(cache.get_or_load("post:1", loader, ttl=0.1, stale_ttl=10) for _ in range(20))
    )
    assert stale == [1] * 20  # served at once, while one refresh runs (held until released)
    release.set()

    async def refreshed() -> bool:
        return bool(await cache.get("post:1") == 2)  # the refreshed value, fresh again

    await until(refreshed, "the background refresh never landed")
    assert calls == 2  # one refresh for twenty stale reads
    assert cache.stats()["totals"]["stale"] == 20


async def test_serve_stale_on_error(cache: SmartCache, clock: Clock) -> None:
    await cache.get_or_load("post:1", lambda: "good", ttl=0.05, stale_ttl=0, error_ttl=10)
    clock.advance(0.08)

    async def broken() -> str:
        raise RuntimeError("database down")

    assert await cache.get_or_load("post:1", broken, ttl=0.05, stale_ttl=0, error_ttl=10) == "good"
    with pytest.raises(RuntimeError):
        await cache.get_or_load("post:2", broken)  # nothing to fall back on


async def test_probabilistic_early_refresh_reloads_before_expiry(clock: Clock) -> None:
    cache = SmartCache(MemoryStore(clock=clock), mode="memory", beta=50.0)
    calls = 0

    async def loader() -> int:
        nonlocal calls
        calls += 1
        return calls

    await cache.get_or_load("post:1", loader, ttl=1.0)
    assert await cache.get_or_load("post:1", loader, ttl=1.0) == 1  # far from expiry: a hit
    clock.advance(1.0 - 1e-7)  # a hair before expiry: XFetch all but surely refreshes now
    for _ in range(100):
        assert await cache.get("post:1") is not None  # still fresh: nothing expired
        await cache.get_or_load("post:1", loader, ttl=1.0)
        if calls >= 2:
            break
        await asyncio.sleep(0)

    async def reloaded() -> bool:
        return calls >= 2

    await until(reloaded, "no early refresh before expiry")


async def test_counters_and_bulk_operations(cache: SmartCache) -> None:
    assert await cache.incr("ratelimit:u1") == 1
    assert await cache.incr("ratelimit:u1", 4) == 5
    assert await cache.decr("ratelimit:u1", 2) == 3
    assert await cache.get("ratelimit:u1") == 3
    await cache.set("post:1", "text")
    with pytest.raises(CacheError):
        await cache.incr("post:1")
    await cache.set_many({"post:2": 2, "post:3": 3})
    assert await cache.get_many(["post:2", "post:3", "post:4"]) == {"post:2": 2, "post:3": 3}
    assert await cache.delete("post:2", "post:4") == 1
    assert await cache.clear("post") == 2
    assert await cache.get("ratelimit:u1") == 3  # other namespaces untouched


async def test_bad_input_is_refused_clearly(cache: SmartCache) -> None:
    with pytest.raises(InvalidInput, match="invalid cache key"):
        await cache.set("", 1)
    with pytest.raises(InvalidInput, match="no braces"):
        await cache.set("post:{1}", 1)
    with pytest.raises(InvalidInput, match="ttl must be a positive"):
        await cache.set("post:1", 1, ttl=0)
    with pytest.raises(CacheError, match="cannot be cached as JSON"):
        await cache.set("post:1", object())
    with pytest.raises(InvalidInput):
        RedisKeys("bad{prefix}")


async def test_reads_inside_an_open_transaction_never_fill(cache: SmartCache) -> None:
    class OpenTransaction:
        def in_transaction(self) -> bool:
            return True

    value = await cache.get_or_load("post:1", lambda: "uncommitted", session=OpenTransaction())
    assert value == "uncommitted"
    assert await cache.get("post:1") is None


class Page(BaseModel):
    id: int
    title: str


async def test_cached_decorator_keeps_signature_and_types(cache: SmartCache) -> None:
    calls: list[int] = []

    @cached(POST, key="{post_id}", tags=["post:{post_id}"])
    async def post_page(cache: SmartCache, post_id: int, *, draft: bool = False) -> Page:
        calls.append(post_id)
        return Page(id=post_id, title=f"t{post_id}")

    assert list(inspect.signature(post_page).parameters) == ["cache", "post_id", "draft"]
    first = await post_page(cache, 3)
    second = await post_page(cache, post_id=3)
    assert first == second == Page(id=3, title="t3") and first is not second
    assert isinstance(second, Page)
    assert calls == [3]
    await cache.invalidate_tags(["post:3"])
    await post_page(cache, 3)
    assert calls == [3, 3]
    with pytest.raises(TypeError, match="needs a 'cache' parameter"):

        @cached(POST, key="{x}")
        async def no_cache(x: int) -> int:
            return x


def test_namespaces_and_tiers() -> None:
    assert [TTL.SHORT, TTL.MEDIUM, TTL.LONG, TTL.VERY_LONG] == [300, 1800, 3600, 86400]
    assert {"session", "profile", "post", "feed", "search", "analytics", "vector"} <= set(
        NAMESPACES
    )
    assert "ratelimit" in NAMESPACES and NAMESPACES["ratelimit"].local_ttl == 0
    assert namespace_of("post:1") is POST
    assert namespace_of("nope:1").name == "custom"
    keys = RedisKeys("sb:")
    # a value, its generation and its lock share a hash tag (one Redis Cluster slot)
    assert {keys.data("post:1")[-8:], keys.generation("post:1")[-8:]} == {"{post:1}"}
    assert keys.lock("post:1").endswith("{post:1}")
    assert keys.tag("a").split("}")[0] == keys.tag("b").split("}")[0]


def test_breaker_opens_fails_fast_and_recovers() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, cooldown=1.0, clock=lambda: now[0])
    recovered: list[bool] = []
    breaker.on_recover(lambda: recovered.append(True))
    breaker.failure()
    assert breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 1.5
    assert breaker.allow()  # one trial
    assert not breaker.allow()  # and only one
    breaker.failure()
    assert breaker.state == "open"
    now[0] = 3.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and recovered == [True]
