"""Rate limits are settings per scope: validated at start, "0" or empty disables a scope."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from stratabase.api.app import create_app
from stratabase.cache import memory_cache
from stratabase.db.session import Database
from stratabase.exceptions import ConfigError
from stratabase.ratelimit import RateLimiter, RateLimits
from stratabase.settings import load_settings


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("STRATABASE_RATE_LIMIT_AUTH", "ten a minute", "is not a rate"),
        ("STRATABASE_RATE_LIMIT_WRITE", "0/minute", "at least 1"),
        ("STRATABASE_RATE_LIMIT_READ", "10/minute;100/hour", "one rate per scope"),
        ("STRATABASE_RATE_LIMIT_READ", "-5/second", "is not a rate"),
    ],
)
def test_a_bad_rate_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    message = str(refused.value)
    assert message.startswith(variable + ": ") and fragment in message
    assert "\n" not in message and refused.value.field == variable


def test_rates_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATABASE_RATE_LIMIT_AUTH", "3 per second")
    monkeypatch.setenv("STRATABASE_RATE_LIMIT_WRITE", "0")
    monkeypatch.setenv("STRATABASE_RATE_LIMIT_READ", "")
    limits = RateLimits.from_settings(load_settings(redis_url=""))
    assert limits == RateLimits(auth="3 per second", write=None, read=None)


def test_defaults_are_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    for scope in ("AUTH", "WRITE", "READ"):
        monkeypatch.delenv(f"STRATABASE_RATE_LIMIT_{scope}", raising=False)
    assert RateLimits.from_settings(load_settings()) == RateLimits()


async def test_a_disabled_scope_never_limits() -> None:
    limiter = RateLimiter(
        load_settings(redis_url="", rate_limit_read="0", rate_limit_write="2/hour")
    )
    assert all([(await limiter.hit("read", "ip:1")).allowed for _ in range(50)])
    assert [(await limiter.hit("write", "ip:1")).allowed for _ in range(3)] == [True, True, False]


async def test_the_app_enforces_the_configured_rate(tmp_path: Path) -> None:
    settings = load_settings(
        redis_url="", database_url=f"sqlite:///{tmp_path / 'unused.db'}", rate_limit_read="2/minute"
    )
    cache = memory_cache()
    db = Database(settings)  # never queried: no token is sent
    app = create_app(settings, database=db, cache=cache)  # no rate_limits
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            statuses = [(await http.get("/v1/me")).status_code for _ in range(3)]
    finally:
        await cache.close()
        await db.dispose()
    assert statuses == [401, 401, 429]  # limited before the sign-in check
