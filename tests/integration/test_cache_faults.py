"""A hung or dead Redis costs the API one short cache timeout, then nothing; answers stay right.

Two apps ("processes") share a database and a private redis-server that the test hangs
(SIGSTOP: connections accepted, nothing answered) or kills; the shared server is never
touched. Every request and ``/health`` must answer, without a 5xx, well within a bound the
old 2 s timeouts could not meet (a first request took 3-6 s, ``/health`` 4.3 s). Beyond wall
time, the test counts what the cache did: once its circuit is open it sends Redis nothing
(its trial is a background PING, and the breakers' clocks are the test's). A read after a
committed write shows the write, in the writer and in the other process, during the
outage and after it (when Redis comes back still holding the page from before the write).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from stratabase.api.app import create_app
from stratabase.cache import SmartCache, two_tier_cache
from stratabase.cache.breaker import CircuitBreaker
from stratabase.cache.two_tier import TwoTierStore
from stratabase.content.reads import body_key
from stratabase.db.session import Database
from stratabase.models import CacheInvalidation
from stratabase.ratelimit import RateLimiter, RateLimits
from stratabase.settings import Settings
from tests.acceptance.api_support import Api
from tests.faults_support import RedisServer

#: Seconds any one request may take while Redis is away: the request's own database work
#: plus at most one cache timeout (0.5 s) and one limiter timeout (0.25 s), with room for a
#: loaded machine. The old timeouts (2 s per call, several calls) took 4.3 s for /health
#: and up to 6.3 s for a read here.
BOUND = 2.0
#: Deadline for conditions that take a moment (reconnects, replays).
DEADLINE = 60.0
#: High enough never to refuse a request here, low enough to be counted in Redis.
LIMITS = RateLimits(auth=None, write="100000/minute", read="100000/minute", login=None)


class Clock:
    """The breakers' clock: stopped (cooldowns pass only when the test says so) or running
    in real time (a slow answer on a loaded machine may open a circuit: it closes by
    itself a cooldown later, as in production)."""

    def __init__(self) -> None:
        self._stopped: float | None = 1000.0
        self._base = 0.0

    def __call__(self) -> float:
        return self._stopped if self._stopped is not None else self._base + time.monotonic()

    def stop(self) -> None:
        self._stopped = self()

    def run(self, skip: float = 0.0) -> None:
        self._base = self() + skip - time.monotonic()
        self._stopped = None


@dataclass
class Process:
    api: Api
    cache: SmartCache
    store: TwoTierStore
    limiter: RateLimiter


@pytest.fixture
def server(redis_url: str) -> Iterator[RedisServer]:
    started = RedisServer()
    started.start()
    yield started
    started.stop()


@asynccontextmanager
async def process(settings: Settings, db: Database, clock: Clock) -> AsyncIterator[Process]:
    """One app with the production cache (default timeouts), bound to ``db``."""
    cache = two_tier_cache(
        settings.redis_url, settings.redis_prefix, breaker=CircuitBreaker(clock=clock)
    )
    store = cache.store
    assert isinstance(store, TwoTierStore)
    cache.bind(db)  # what the app's lifespan does (httpx.ASGITransport runs none)
    limiter = RateLimiter(
        settings, LIMITS, breaker=CircuitBreaker(name="rate limiter", clock=clock)
    )
    app = create_app(settings, database=db, cache=cache)
    app.state.rate_limiter = limiter
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as http:
            assert await store.wait_subscribed()
            yield Process(Api(http, db), cache, store, limiter)
    finally:
        await limiter.close()
        await cache.close()


async def timed(p: Process, method: str, url: str, **options: Any) -> httpx.Response:
    started = time.monotonic()
    response = await p.api.http.request(method, url, **options)
    elapsed = time.monotonic() - started
    assert response.status_code < 500, response.text
    assert elapsed < BOUND, f"{method} {url} took {elapsed:.2f} s"
    return response


async def title(p: Process, url: str) -> str:
    response = await timed(p, "GET", url)
    assert response.status_code == 200, response.text
    return str(response.json()["title"])


async def eventually(
    check: Callable[[], Awaitable[bool]], state: Callable[[], object] = lambda: ""
) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await check():
        assert time.monotonic() < deadline, f"condition not reached in time {state()}"
        await asyncio.sleep(0.05)


def recovery_state(p: Process) -> dict[str, object]:
    """What a process still waits for after an outage (shown when recovery times out)."""
    store = p.store
    return {
        "breaker": store.remote.breaker.state,
        "channel_ok": store.channel_ok,
        "synced": store.synced,
        "channel_drops": store.channel_drops,
        "pending": store.pending,
    }


async def outbox_rows(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(CacheInvalidation)) or 0)


@pytest.mark.parametrize("fault", ["hung", "killed"])
async def test_requests_stay_fast_and_right_while_redis_is_away(
    settings: Settings, db: Database, server: RedisServer, redis_prefix: str, fault: str
) -> None:
    shared = settings.model_copy(update={"redis_url": server.url, "redis_prefix": redis_prefix})
    clock = Clock()
    clock.run()
    async with process(shared, db, clock) as a, process(shared, db, clock) as b:
        author = await a.api.user()
        post = await a.api.post(author, title="v0")
        url, profile = f"/v1/posts/{post['id']}", f"/v1/users/{author.id}"
        for p in (a, b):  # warming up (first requests of an app are slow on a busy machine)
            for path in (url, profile, "/v1/categories"):
                assert (await p.api.http.get(path)).status_code == 200
            assert (await p.api.http.get(url)).json()["title"] == "v0"  # local and in Redis

            async def healthy_before(p: Process = p) -> bool:
                return bool((await p.api.http.get("/health")).json()["status"] == "ok")

            await eventually(healthy_before)

        clock.stop()  # no cooldown passes during the outage: what the breakers do is counted
        server.pause() if fault == "hung" else server.stop()

        calls = errors = 0
        errors_before = a.store.remote.connection_errors
        for version in range(1, 4):
            for path in (url, profile, "/v1/categories"):
                await timed(a, "GET", path)
            edit = {"title": f"v{version}"}
            assert (await timed(a, "PATCH", url, json=edit, headers=author.headers)).is_success
            assert await title(a, url) == f"v{version}"
            report = (await timed(a, "GET", "/health")).json()
            checks = report["checks"]
            assert report["status"] == "degraded"
            assert checks["redis"]["status"] == "down"
            assert checks["cache"]["status"] == "degraded"
            assert checks["rate_limiter"]["status"] == "degraded"
            if version == 1:
                # Open after one timeout (hung) or three refusals (dead): from here on no
                # cache call is sent to Redis, so none can wait on it.
                assert a.store.remote.breaker.state == "open"
                calls, errors = a.store.remote.calls, a.store.remote.connection_errors
                allowed = 1 if fault == "hung" else a.store.remote.breaker.threshold
                assert errors - errors_before <= allowed
        assert (a.store.remote.calls, a.store.remote.connection_errors) == (calls, errors)
        assert a.store.remote.trials == 0  # the cooldown has not passed on the test's clock
        assert await outbox_rows(db) >= 3  # the writes' invalidations, kept for Redis

        # B cached v0 before the outage. It drops its copies as soon as it sees Redis fail
        # (a dead server drops its channel at once; a hung one misses the channel's PING),
        # and from then on reads from the database.
        async def b_out_of_touch() -> bool:
            return not b.store.coherent

        await eventually(b_out_of_touch)
        assert await title(b, url) == "v3"
        assert await title(b, url) == "v3"

        if fault == "hung":
            server.resume()  # Redis still holds the page cached at v0
        else:
            server.start()  # a new, empty server on the same port
        clock.run(skip=60.0)  # the cooldowns are over: the next call starts a background trial

        async def back(p: Process) -> bool:
            assert await title(p, url) == "v3"  # never v0 from Redis, at any moment
            return p.store.remote.breaker.closed and p.store.channel_ok and p.store.synced

        await eventually(lambda: back(a), lambda: recovery_state(a))
        await eventually(lambda: back(b), lambda: recovery_state(b))

        edit = {"title": "v4"}
        assert (await timed(a, "PATCH", url, json=edit, headers=author.headers)).is_success
        raw = Redis.from_url(server.url)

        async def healthy(p: Process) -> bool:
            assert await title(p, url) == "v4"  # at every read
            report = (await timed(p, "GET", "/health")).json()
            # the shared tier is in use again
            shared = await raw.exists(p.store.remote.keys.data(body_key(post["id"])))
            return report["status"] == "ok" and bool(shared)

        try:
            await eventually(lambda: healthy(a))
            await eventually(lambda: healthy(b))
        finally:
            await raw.aclose()

        async def outbox_empty() -> bool:
            return await outbox_rows(db) == 0

        await eventually(outbox_empty)  # replayed to Redis, then deleted


async def test_a_burst_of_reads_on_a_hung_redis_costs_one_timeout_not_one_per_call(
    server: RedisServer, redis_prefix: str
) -> None:
    """200 concurrent reads on 8 connections: each connection times out once at most, the
    circuit opens, and the queued reads go to their loaders without touching Redis."""
    clock = Clock()
    cache = two_tier_cache(
        server.url, redis_prefix, max_connections=8, breaker=CircuitBreaker(clock=clock)
    )
    store = cache.store
    assert isinstance(store, TwoTierStore)
    try:
        assert await store.wait_subscribed()
        assert await cache.get_or_load("post:0", lambda: "warm", tags=["post:0"]) == "warm"
        server.pause()
        keys = [f"post:{i}" for i in range(1, 201)]

        async def read(key: str) -> str:
            return str(await cache.get_or_load(key, lambda: f"db {key}", tags=[key]))

        started = time.monotonic()
        assert await asyncio.gather(*map(read, keys)) == [f"db {key}" for key in keys]
        burst = time.monotonic() - started
        assert store.remote.breaker.state == "open"
        assert store.remote.connection_errors <= 8  # one timeout per connection at most
        calls = store.remote.calls
        started = time.monotonic()
        assert await asyncio.gather(*map(read, keys)) == [f"db {key}" for key in keys]
        assert store.remote.calls == calls  # open: nothing sent to Redis
        # Generous for a loaded machine (0.5 s measured); the old timeouts took 2.03 s.
        assert burst < 1.5 and time.monotonic() - started < 1.0
    finally:
        await cache.close()


async def test_a_read_queued_for_a_connection_does_not_use_it_once_the_circuit_opened(
    server: RedisServer, redis_prefix: str
) -> None:
    """One connection: the first read hangs on it; the second queues. When the first times
    out and opens the circuit, the second is handed the connection and gives it up at once
    (before, it reconnected to the hung server and waited a whole timeout more)."""
    cache = two_tier_cache(
        server.url,
        redis_prefix,
        max_connections=1,
        pool_timeout=60.0,  # the queued read is served by the hand-over, never times out
        breaker=CircuitBreaker(clock=Clock()),
    )
    store = cache.store
    assert isinstance(store, TwoTierStore)
    pool: Any = store.remote.client.connection_pool
    try:
        assert await store.wait_subscribed()
        assert await cache.get_or_load("post:0", lambda: "warm", tags=["post:0"]) == "warm"
        server.pause()
        first = asyncio.create_task(cache.get_or_load("post:1", lambda: "one", tags=["post:1"]))

        async def holding() -> bool:
            return len(pool._in_use_connections) == 1

        await eventually(holding)
        second = asyncio.create_task(cache.get_or_load("post:2", lambda: "two", tags=["post:2"]))

        async def queued() -> bool:
            return bool(pool.waiting == 1)

        await eventually(queued)
        assert await first == "one" and await second == "two"
        assert store.remote.breaker.state == "open"
        assert store.remote.connection_errors == 1  # the second never reached the server
        assert pool.timeouts == 0
    finally:
        await cache.close()
