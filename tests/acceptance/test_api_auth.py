"""Sign-up, sign-in, bearer sessions, revocation, roles, suspension and rate limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from stratabase.db.session import Database
from stratabase.enums import Role, UserStatus
from stratabase.models import User, UserSession
from stratabase.ratelimit import RateLimits
from stratabase.settings import Settings
from tests.acceptance.api_support import Api, assert_problem, make_api

PASSWORD = "correct horse battery"


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for api in make_api(settings, db):
        yield api


async def _register(api: Api, email: str = "Ada@Example.com", username: str = "ada") -> dict:
    response = await api.http.post(
        "/v1/auth/register",
        json={"email": email, "username": username, "password": PASSWORD, "device": "laptop"},
        headers={"User-Agent": "pytest-agent"},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_register_login_me_and_session_details(api: Api, db: Database) -> None:
    registered = await _register(api)
    assert registered["user"]["email"] == "ada@example.com"
    assert "password_hash" not in registered["user"]
    response = await api.http.post(
        "/v1/auth/login", json={"email": "ADA@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert token != registered["token"]
    me = await api.http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["username"] == "ada"
    async with db.session() as session:
        rows = list(await session.scalars(select(UserSession).order_by(UserSession.id)))
    assert len(rows) == 2
    assert all(len(row.token_hash) == 64 and token not in row.token_hash for row in rows)
    assert rows[0].device == "laptop" and rows[0].user_agent == "pytest-agent"
    assert rows[0].ip and rows[0].expires_at > rows[0].created_at
    async with db.session() as session:
        stored = await session.scalar(select(User.password_hash))
    assert stored is not None and stored.startswith("$argon2id$")


async def test_register_refusals(api: Api) -> None:
    await _register(api)
    taken = await api.http.post(
        "/v1/auth/register",
        json={"email": "ada@example.com", "username": "other", "password": PASSWORD},
    )
    assert_problem(taken, 409)
    short = await api.http.post(
        "/v1/auth/register", json={"email": "b@example.com", "username": "bob", "password": "x"}
    )
    body = assert_problem(short, 422)
    assert body["errors"][0]["field"] == "password"
    sneaky = await api.http.post(
        "/v1/auth/register",
        json={"email": "c@example.com", "username": "carl", "password": PASSWORD, "role": "admin"},
    )
    assert_problem(sneaky, 422)


async def test_wrong_password_and_unknown_email_are_the_same_401(api: Api) -> None:
    await _register(api)
    wrong = await api.http.post(
        "/v1/auth/login", json={"email": "ada@example.com", "password": "nope"}
    )
    unknown = await api.http.post(
        "/v1/auth/login", json={"email": "zed@example.com", "password": "nope"}
    )
    assert assert_problem(wrong, 401)["detail"] == assert_problem(unknown, 401)["detail"]


BAD_HEADERS = [
    None,
    "Bearer",
    "Bearer not-a-real-token",
    "Basic dXNlcjpwYXNz",
    "Bearer " + "x" * 5000,
]


async def test_me_refuses_missing_or_bad_tokens(api: Api) -> None:
    for header in BAD_HEADERS:
        headers = {"Authorization": header} if header else {}
        response = await api.http.get("/v1/me", headers=headers)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"


async def test_logout_revokes_only_that_session_at_once(api: Api) -> None:
    first = (await _register(api))["token"]
    second = (
        await api.http.post(
            "/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
    ).json()["token"]
    out = await api.http.post("/v1/auth/logout", headers={"Authorization": f"Bearer {first}"})
    assert out.status_code == 204
    assert_problem(await api.http.get("/v1/me", headers={"Authorization": f"Bearer {first}"}), 401)
    still = await api.http.get("/v1/me", headers={"Authorization": f"Bearer {second}"})
    assert still.status_code == 200


async def test_logout_everywhere(api: Api) -> None:
    tokens = [(await _register(api))["token"]]
    for _ in range(2):
        login = await api.http.post(
            "/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
        tokens.append(login.json()["token"])
    out = await api.http.post(
        "/v1/auth/logout-all", headers={"Authorization": f"Bearer {tokens[1]}"}
    )
    assert out.status_code == 200 and out.json() == {"revoked": 3}
    for token in tokens:
        assert_problem(
            await api.http.get("/v1/me", headers={"Authorization": f"Bearer {token}"}), 401
        )


async def test_suspended_users_read_but_cannot_write(api: Api) -> None:
    suspended = await api.user(status=UserStatus.SUSPENDED)
    other = await api.user()
    assert (await api.http.get("/v1/me", headers=suspended.headers)).status_code == 200
    post = await api.http.post(
        "/v1/posts", json={"kind": "note", "title": "hi"}, headers=suspended.headers
    )
    assert_problem(post, 403)
    follow = await api.http.post(f"/v1/users/{other.id}/follow", headers=suspended.headers)
    assert_problem(follow, 403)


async def test_deleted_users_cannot_authenticate_and_roles_are_reported(api: Api) -> None:
    gone = await api.user(status=UserStatus.DELETED)
    assert_problem(await api.http.get("/v1/me", headers=gone.headers), 401)
    admin = await api.user(role=Role.ADMIN)
    assert (await api.http.get("/v1/me", headers=admin.headers)).json()["role"] == "admin"


async def test_login_is_rate_limited_per_ip_with_retry_after(
    settings: Settings, db: Database
) -> None:
    async for api in make_api(settings, db, RateLimits(auth="3/minute", read=None, write=None)):
        statuses = []
        for _ in range(5):
            response = await api.http.post(
                "/v1/auth/login", json={"email": "x@example.com", "password": "whatever"}
            )
            statuses.append(response.status_code)
        assert statuses == [401, 401, 401, 429, 429]
        body = assert_problem(response, 429)
        assert "too many requests" in body["detail"]
        assert 1 <= int(response.headers["retry-after"]) <= 61


async def test_reads_are_rate_limited_per_user(settings: Settings, db: Database) -> None:
    async for api in make_api(settings, db, RateLimits(auth=None, read="4/minute", write=None)):
        alice, bob = await api.user(), await api.user()
        results = await asyncio.gather(
            *(api.http.get("/v1/me", headers=alice.headers) for _ in range(6))
        )
        assert sorted(r.status_code for r in results) == [200] * 4 + [429] * 2
        # Bob has a budget of his own.
        assert (await api.http.get("/v1/me", headers=bob.headers)).status_code == 200
