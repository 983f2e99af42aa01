"""Redis stopped and started again: degraded service from the local tier, then recovery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from stratabase.cache import CacheUnavailable, cache_health, two_tier, two_tier_cache
from stratabase.cache.breaker import CircuitBreaker
from stratabase.cache.two_tier import TwoTierStore
from tests.faults_support import RedisServer


@pytest.fixture
def server(redis_url: str) -> Iterator[RedisServer]:
    started = RedisServer()
    started.start()
    yield started
    started.stop()


async def _eventually(check, within: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_breaker_degrades_then_recovers(
    server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconnects = 0

    class CountingRedis(Redis):  # type: ignore[type-arg]
        """The channel's client, counted each time the channel (re)connects."""

        @classmethod
        def from_url(cls, *args: Any, **kwargs: Any) -> Any:
            nonlocal reconnects
            reconnects += 1
            return Redis.from_url(*args, **kwargs)

    monkeypatch.setattr(two_tier, "Redis", CountingRedis)
    cache = two_tier_cache(
        server.url,
        "sb-breaker:",
        socket_timeout=0.5,
        breaker=CircuitBreaker(threshold=2, cooldown=0.2),
        degraded_ttl=600,  # degraded copies outlive any delay of a busy machine
    )
    store = cache.store
    assert isinstance(store, TwoTierStore)
    store.reconnect_max = 0.2
    calls = 0

    def loader() -> str:
        nonlocal calls
        calls += 1
        return f"from-db-{calls}"

    try:
        assert await store.wait_subscribed()
        assert await cache.get_or_load("post:1", loader, tags=["post:1"]) == "from-db-1"
        assert (await cache_health(cache))["status"] == "ok"

        server.stop()

        async def degraded() -> bool:
            return (await cache_health(cache))["status"] == "degraded" and not store.channel_ok

        await _eventually(degraded)
        # the API keeps answering: from the loader, then from the local tier
        assert await cache.get_or_load("post:2", loader, tags=["post:2"]) == "from-db-2"
        tried = reconnects

        async def three_reconnects_failed() -> bool:
            return reconnects >= tried + 3 and not store.channel_ok

        await _eventually(three_reconnects_failed)  # they failed meanwhile: the copy stays
        assert await cache.get_or_load("post:2", loader, tags=["post:2"]) == "from-db-2"
        assert calls == 2
        with pytest.raises(CacheUnavailable):
            await cache.get("post:never-cached")  # an error, never a silent miss
        with pytest.raises(CacheUnavailable):
            await cache.invalidate_tags(["post:1"])
        assert store.pending == 1
        assert store.remote.breaker.state != "closed"
        report = await cache_health(cache)
        assert report["status"] == "degraded" and report["channel"] == "down"

        server.start()  # a new, empty server on the same port

        async def recovered() -> bool:
            report = await cache_health(cache)
            return report["status"] == "ok" and store.pending == 0

        await _eventually(recovered)
        assert store.remote.breaker.state == "closed" and store.channel_ok
        assert await cache.get_or_load("post:3", loader, tags=["post:3"]) == "from-db-3"
        client = Redis.from_url(server.url)
        try:
            assert await client.exists(store.remote.keys.data("post:3"))
            assert await client.exists(store.remote.keys.tag("post:1"))  # replayed
        finally:
            await client.aclose()
    finally:
        await cache.close()
