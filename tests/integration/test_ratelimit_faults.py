"""A Redis outage never takes the API down through the rate limiter.

The limiter talks to a private redis-server that the tests kill or hang (SIGSTOP); the
shared server is never touched. While Redis is away requests are limited per process in
memory, quickly, with no Redis call while the circuit is open; when it is back the shared
windows resume.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from stratabase.api.app import create_app
from stratabase.cache import memory_cache
from stratabase.cache.breaker import CircuitBreaker
from stratabase.db.session import Database
from stratabase.ratelimit import RateLimiter, RateLimits
from stratabase.settings import Settings, load_settings
from tests.faults_support import RedisServer

#: The limiter's Redis timeout in these tests: longer than the 0.25 s default, so that a
#: healthy server on a loaded machine is never taken for a dead one.
TIMEOUT = 1.0
#: Generous for calls that time out after TIMEOUT, far below redis-py's unbounded default
#: (a hung server would hold the request for ever).
BOUND = 3 * TIMEOUT


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server(redis_url: str) -> Iterator[RedisServer]:
    started = RedisServer()
    started.start()
    yield started
    started.stop()


async def _keys(url: str) -> list[bytes]:
    client = Redis.from_url(url)
    try:
        return [key async for key in client.scan_iter(match="sb-rl:*")]
    finally:
        await client.aclose()


async def _timed_hit(limiter: RateLimiter, identity: str) -> bool:
    started = time.monotonic()
    verdict = await limiter.hit("read", identity)
    assert time.monotonic() - started < BOUND, "a request waited on a dead Redis"
    return verdict.allowed


@pytest.mark.parametrize("fault", ["killed", "hung"])
async def test_limiter_falls_back_to_memory_and_resumes(server: RedisServer, fault: str) -> None:
    clock = Clock()
    breaker = CircuitBreaker(name="rate limiter", threshold=3, cooldown=5.0, clock=clock)
    settings = load_settings(redis_url=server.url, redis_prefix="sb-rl:")
    limiter = RateLimiter(
        settings, RateLimits(read="3/minute"), breaker=breaker, socket_timeout=TIMEOUT
    )
    try:
        assert [await _timed_hit(limiter, "ip:1") for _ in range(4)] == [True] * 3 + [False]
        assert await _keys(server.url), "the shared windows live in Redis"
        assert (await limiter.health())["status"] == "ok"

        server.pause() if fault == "hung" else server.stop()
        before = limiter.redis_calls
        # refusals open the circuit after three, a timeout (hung) at once
        outcomes = [await _timed_hit(limiter, "ip:2") for _ in range(3)]
        assert outcomes == [True] * 3
        assert breaker.state == "open"
        calls = limiter.redis_calls
        assert calls - before == (1 if fault == "hung" else 3)
        # while open: no Redis call at all, limits enforced in this process's memory
        outcomes = [await _timed_hit(limiter, "ip:3") for _ in range(4)]
        assert outcomes == [True] * 3 + [False]
        assert limiter.redis_calls == calls
        report = await limiter.health()
        assert report["status"] == "degraded" and report["breaker"] == "open"
        assert limiter.redis_calls == calls

        server.stop()
        server.start()  # a new, empty server on the same port
        clock.now += breaker.cooldown  # the next call starts the trial: a background PING
        assert await _timed_hit(limiter, "ip:4")  # limited in memory, waits on nothing
        assert limiter.redis_calls == calls
        deadline = time.monotonic() + 60
        while not breaker.closed:
            assert time.monotonic() < deadline, "the trial did not close the circuit"
            await asyncio.sleep(0.02)
        assert await _timed_hit(limiter, "ip:4")
        assert limiter.redis_calls == calls + 1
        assert await _keys(server.url), "shared windows resumed"
        assert (await limiter.health())["status"] == "ok"
    finally:
        await limiter.close()


@pytest.fixture
async def app_client(
    settings: Settings, db: Database, server: RedisServer
) -> AsyncIterator[tuple[httpx.AsyncClient, RateLimiter]]:
    settings = settings.model_copy(update={"redis_url": server.url, "redis_prefix": "sb-rl:"})
    cache = memory_cache()
    limits = RateLimits(read="5/minute", write=None, auth=None)
    limiter = RateLimiter(settings, limits, socket_timeout=TIMEOUT)
    app = create_app(settings, database=db, cache=cache, limiter=limiter)
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 1234))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http, limiter
    finally:
        await limiter.close()
        await cache.close()


async def test_redis_outage_gives_no_5xx(
    app_client: tuple[httpx.AsyncClient, RateLimiter], server: RedisServer
) -> None:
    http, limiter = app_client
    assert (await http.get("/v1/categories")).status_code == 200
    server.pause()  # hung: the worst case (a refused connection fails fast anyway)
    statuses = []
    for _ in range(8):
        started = time.monotonic()
        response = await http.get("/v1/categories")
        assert time.monotonic() - started < BOUND
        statuses.append(response.status_code)
    assert all(status < 500 for status in statuses), statuses
    # 5 per minute, one already counted in Redis: memory starts afresh, so 5 more pass
    assert statuses == [200] * 5 + [429] * 3
    assert limiter.breaker.state != "closed"
    health = (await http.get("/health")).json()
    assert health["checks"]["rate_limiter"]["status"] == "degraded"
    assert health["status"] == "degraded"


def test_cli_health_shows_the_limiter(database_url: str, server: RedisServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env.update({"STRATABASE_DATABASE_URL": database_url, "STRATABASE_REDIS_URL": server.url})

    def health() -> tuple[int, dict[str, Any]]:
        done = subprocess.run(
            [sys.executable, "-m", "stratabase", "health", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.returncode, json.loads(done.stdout)

    code, report = health()
    assert code == 0 and report["checks"]["rate_limiter"]["status"] == "ok"
    server.stop()
    code, report = health()
    # The database is still up (degraded), but the cache is not reachable: not ready, exit 1.
    assert code == 1 and report["status"] == "degraded"
    assert report["ready"]["not_ready"] == ["cache"]
    assert report["checks"]["rate_limiter"]["status"] == "degraded"
    assert "per process" in report["checks"]["rate_limiter"]["error"]
