"""The per-account sign-in throttle: failures on one account are limited whatever IPs they
come from, a refused attempt costs no argon2 work, concurrent guesses cannot slip past the
limit, a success clears the count, and API processes sharing a Redis share the count."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from stratabase.api.app import create_app
from stratabase.cache import build_cache
from stratabase.db.session import Database
from stratabase.ratelimit import RateLimits
from stratabase.settings import Settings, load_settings
from tests.acceptance.api_support import assert_problem
from tests.acceptance.auth_support import account, record_verifies, use_hasher

PASSWORD = "the right password"


@asynccontextmanager
async def _app(
    settings: Settings, db: Database, limits: RateLimits
) -> AsyncIterator[httpx.AsyncClient]:
    """An app behind a trusted proxy at 127.0.0.1, so ``X-Forwarded-For`` names the IP."""
    behind_proxy = load_settings(
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        redis_prefix=settings.redis_prefix,
        trusted_proxies="127.0.0.1",
    )
    cache = build_cache(behind_proxy.model_copy(update={"redis_url": ""}))
    app = create_app(behind_proxy, database=db, cache=cache, rate_limits=limits)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http
    finally:
        await cache.close()


async def _login(http: httpx.AsyncClient, email: str, password: str, ip: str) -> httpx.Response:
    return await http.post(
        "/v1/auth/login",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": ip},
    )


async def test_failures_on_one_account_from_many_ips_are_throttled_before_argon2(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = use_hasher(monkeypatch)
    email = await account(db, hasher.hash(PASSWORD))
    limits = RateLimits(auth="2/hour", read=None, write=None, login="4/hour")
    async with _app(settings, db, limits) as http:
        seen = record_verifies(monkeypatch)
        statuses = [
            (await _login(http, email, "a wrong guess", f"198.51.100.{n}")).status_code
            for n in range(7)
        ]
        assert statuses == [401] * 4 + [429] * 3
        assert len(seen) == 4, "a throttled attempt must not reach argon2"
        refused = await _login(http, email, PASSWORD, "198.51.100.99")  # even the right one
        body = assert_problem(refused, 429)
        assert "this account" in body["detail"]
        assert 1 <= int(refused.headers["retry-after"]) <= 3601
        assert len(seen) == 4
        # Another account, and an unknown email, have budgets of their own.
        other = await account(db, hasher.hash(PASSWORD))
        assert (await _login(http, other, PASSWORD, "198.51.100.7")).status_code == 200
        assert (await _login(http, "nobody@example.com", "x", "198.51.100.8")).status_code == 401


async def test_unknown_emails_are_throttled_alike(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """429 does not tell which emails have accounts."""
    use_hasher(monkeypatch)
    limits = RateLimits(auth=None, read=None, write=None, login="2/hour")
    async with _app(settings, db, limits) as http:
        statuses = [
            (await _login(http, "Ghost@Example.com", "guess", f"203.0.113.{n}")).status_code
            for n in range(3)
        ]
    assert statuses == [401, 401, 429]


async def test_concurrent_guesses_cannot_exceed_the_account_limit(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = use_hasher(monkeypatch)
    email = await account(db, hasher.hash(PASSWORD))
    limits = RateLimits(auth=None, read=None, write=None, login="3/hour")
    async with _app(settings, db, limits) as http:
        seen = record_verifies(monkeypatch)
        responses = await asyncio.gather(
            *(_login(http, email, f"guess {n}", f"192.0.2.{n}") for n in range(10))
        )
    assert sorted(r.status_code for r in responses) == [401] * 3 + [429] * 7
    assert len(seen) == 3


async def test_a_successful_sign_in_clears_the_failures(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = use_hasher(monkeypatch)
    email = await account(db, hasher.hash(PASSWORD))
    limits = RateLimits(auth=None, read=None, write=None, login="3/hour")
    async with _app(settings, db, limits) as http:
        for _ in range(2):
            assert (await _login(http, email, "typo", "192.0.2.1")).status_code == 401
        assert (await _login(http, email, PASSWORD, "192.0.2.1")).status_code == 200
        statuses = [(await _login(http, email, "typo", "192.0.2.1")).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]


async def test_api_processes_sharing_redis_share_the_account_count(
    settings: Settings,
    db: Database,
    redis_url: str,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hasher = use_hasher(monkeypatch)
    email = await account(db, hasher.hash(PASSWORD))
    shared = settings.model_copy(update={"redis_url": redis_url, "redis_prefix": redis_prefix})
    limits = RateLimits(auth=None, read=None, write=None, login="4/hour")
    async with _app(shared, db, limits) as first, _app(shared, db, limits) as second:
        failures = [
            (await _login(http, email, "guess", f"10.1.0.{n}")).status_code
            for n, http in enumerate([first, second, first])
        ]
        assert failures == [401] * 3
        # The fourth attempt, right, in the other process: it clears the count for both.
        assert (await _login(second, email, PASSWORD, "10.1.0.9")).status_code == 200
        statuses = [
            (await _login(http, email, "guess", f"10.1.1.{n}")).status_code
            for n, http in enumerate([first, second] * 3)
        ]
    assert statuses == [401] * 4 + [429] * 2
