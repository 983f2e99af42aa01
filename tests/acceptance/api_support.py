"""Helpers for the HTTP API tests: an app on the test database, users with tokens."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.api.app import create_app
from stratabase.auth import service as auth
from stratabase.db.session import Database
from stratabase.enums import Role, UserStatus
from stratabase.models import Category, User
from stratabase.models.cache import BOOKKEEPING_TABLES
from stratabase.ratelimit import RateLimits
from stratabase.search import index
from stratabase.settings import Settings

_names = itertools.count(1)
#: Limits high enough that only the rate-limit tests ever meet them.
NO_LIMITS = RateLimits(auth=None, write=None, read=None, login=None)


@dataclass
class Actor:
    id: int
    username: str
    token: str
    headers: dict[str, str] = field(default_factory=dict)


class Api:
    """The app behind an httpx client, plus shortcuts to make users and posts."""

    def __init__(self, http: httpx.AsyncClient, db: Database) -> None:
        self.http = http
        self.db = db

    async def user(
        self, *, role: Role = Role.USER, status: UserStatus = UserStatus.ACTIVE, bio: str = ""
    ) -> Actor:
        """A user inserted directly (no argon2 cost) with a live bearer token."""
        username = f"user_{next(_names)}"

        async def work(session: AsyncSession) -> int:
            user = User(
                email=f"{username}@example.com",
                username=username,
                name=username.replace("_", " ").title(),
                role=role,
                status=status,
                bio=bio or None,
            )
            session.add(user)
            await session.flush()
            await index.sync_user(session, user)
            return user.id

        user_id = await self.db.transaction(work)
        issued = await auth.open_session(self.db, user_id, auth.ClientInfo(device="tests"))
        return Actor(user_id, username, issued.token, {"Authorization": f"Bearer {issued.token}"})

    async def category(self, name: str = "Tech") -> int:
        async def work(session: AsyncSession) -> int:
            category = Category(theme="tech", name=name, slug=f"{name.lower()}-{next(_names)}")
            session.add(category)
            await session.flush()
            return category.id

        return await self.db.transaction(work)

    async def post(self, author: Actor, **fields: Any) -> dict[str, Any]:
        body = {"kind": "article", "title": "A post", "status": "published", **fields}
        response = await self.http.post("/v1/posts", json=body, headers=author.headers)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def comment(
        self, author: Actor, post_id: int, body: str = "hi", parent_id: int | None = None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"body": body}
        if parent_id is not None:
            payload["parent_id"] = parent_id
        response = await self.http.post(
            f"/v1/posts/{post_id}/comments", json=payload, headers=author.headers
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]


async def make_api(
    settings: Settings, db: Database, limits: RateLimits = NO_LIMITS
) -> AsyncIterator[Api]:
    app = create_app(settings, database=db, rate_limits=limits)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield Api(http, db)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


_CACHE_BOOKKEEPING = BOOKKEEPING_TABLES  # docs/cache.md states their cost


def count_queries(sql: list[str]) -> int:
    """Statements that touch data (SQLite's explicit BEGIN is bookkeeping, not a query, and
    so are the cache's own checks)."""
    return sum(
        1
        for statement in sql
        if not statement.lstrip().upper().startswith("BEGIN")
        and not any(table in statement for table in _CACHE_BOOKKEEPING)
    )
