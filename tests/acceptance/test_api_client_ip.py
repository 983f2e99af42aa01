"""The client IP through the real server (uvicorn configured as ``stratabase serve`` does):
``X-Forwarded-For`` neither escapes the sign-in limit nor picks the IP stored on a session,
unless the request comes from a proxy named in ``STRATABASE_TRUSTED_PROXIES``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from stratabase.api.app import create_app
from stratabase.api.server import server_config
from stratabase.db.session import Database
from stratabase.models import User, UserSession
from stratabase.ratelimit import RateLimits
from stratabase.settings import Settings, load_settings
from tests.acceptance.auth_support import account, use_hasher

PASSWORD = "the right password"
LIMITS = RateLimits(auth="3/hour", read=None, write=None, login=None)


@asynccontextmanager
async def _served(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The app under uvicorn on a free loopback port; a client that connects from 127.0.0.1."""
    app = create_app(settings, database=db, rate_limits=LIMITS)
    server = uvicorn.Server(server_config(app, settings, "127.0.0.1", 0))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:
                if task.done():
                    task.result()  # surfaces a start-up error
                    raise AssertionError("the server stopped before it started")
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=30) as http:
            yield http
    finally:
        server.should_exit = True
        await task


async def _login(http: httpx.AsyncClient, email: str, password: str, forwarded: str) -> int:
    response = await http.post(
        "/v1/auth/login",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": forwarded},
    )
    return response.status_code


async def _session_ips(db: Database, email: str) -> list[str | None]:
    async with db.session() as session:
        rows = await session.scalars(
            select(UserSession.ip)
            .join(User, User.id == UserSession.user_id)
            .where(User.email == email)
        )
        return list(rows)


async def test_rotating_forwarded_for_does_not_escape_the_ip_limit_by_default(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = use_hasher(monkeypatch)
    email = await account(db, hasher.hash(PASSWORD))
    async with _served(settings, db) as http:
        assert await _login(http, email, PASSWORD, "203.0.113.50") == 200
        statuses = [await _login(http, email, "guess", f"198.51.100.{n}") for n in range(4)]
    assert statuses == [401, 401, 429, 429]
    assert await _session_ips(db, email) == ["127.0.0.1"]  # not the header's 203.0.113.50


async def test_forwarded_for_is_honoured_from_a_trusted_proxy(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = use_hasher(monkeypatch)
    email = await account(db, hasher.hash(PASSWORD))
    behind_proxy = load_settings(database_url=settings.database_url, trusted_proxies="127.0.0.1")
    async with _served(behind_proxy, db) as http:
        # The client prepended a fake address; the proxy appended the one it saw.
        assert await _login(http, email, PASSWORD, "10.9.9.9, 203.0.113.50") == 200
        first = [await _login(http, email, "guess", "198.51.100.1") for _ in range(4)]
        other = await _login(http, email, "guess", "198.51.100.2")
    assert first == [401, 401, 401, 429]  # each client IP has its own budget of 3
    assert other == 401
    assert await _session_ips(db, email) == ["203.0.113.50"]


async def test_rotating_ipv6_addresses_within_a_64_share_one_budget(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_hasher(monkeypatch)
    behind_proxy = load_settings(database_url=settings.database_url, trusted_proxies="127.0.0.1")
    app = create_app(behind_proxy, database=db, rate_limits=LIMITS)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        statuses = [
            await _login(http, "nobody@example.com", "guess", f"2001:db8:7:7:{n:x}::1")
            for n in range(4)
        ]
        elsewhere = await _login(http, "nobody@example.com", "guess", "2001:db8:7:8::1")
    assert statuses == [401, 401, 401, 429]
    assert elsewhere == 401
