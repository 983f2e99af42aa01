"""The edge of the API: body limits, security headers, CORS, HEAD, 405s and health details."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from stratabase.api.app import create_app
from stratabase.db.session import Database
from stratabase.enums import Role
from stratabase.settings import Settings
from tests.acceptance.api_support import NO_LIMITS, Api, assert_problem, make_api

CHUNK = 16 * 1024


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for value in make_api(settings, db):
        yield value


async def _api(settings: Settings, db: Database, **changes: Any) -> AsyncIterator[Api]:
    async for value in make_api(settings.model_copy(update=changes), db):
        yield value


class Body:
    """A streamed request body that counts how much of it the server pulled."""

    def __init__(self, chunks: int, chunk: bytes = b"x" * CHUNK) -> None:
        self.chunks, self.chunk, self.pulled = chunks, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield self.chunk


# --- request body size (P2.0a.3) ----------------------------------------------------------


def test_the_default_limit_is_one_mebibyte() -> None:
    assert Settings().max_body_bytes == 1024 * 1024


async def test_a_declared_length_over_the_limit_is_refused_before_reading(api: Api) -> None:
    """Unauthenticated login: 413 from the Content-Length alone, no byte of the body read."""
    body = Body(200)
    response = await api.http.post(
        "/v1/auth/login",
        content=body,
        headers={"Content-Length": str(200 * CHUNK), "Content-Type": "application/json"},
    )
    problem = assert_problem(response, 413)
    assert "1048576 bytes" in problem["detail"]
    assert body.pulled == 0


async def test_a_chunked_body_is_counted_while_it_is_read(settings: Settings, db: Database) -> None:
    """No Content-Length: the read that crosses the limit answers 413; the rest stays unread."""
    async for api in _api(settings, db, max_body_bytes=8 * CHUNK):
        writer = await api.user()
        for path, headers in [
            ("/v1/posts", writer.headers),  # a JSON body parsed by FastAPI
            ("/v1/payments/webhooks/stripe", {}),  # a body the route reads itself
            ("/v1/auth/login", {}),  # anonymous
        ]:
            body = Body(500)
            response = await api.http.post(path, content=body, headers=headers)
            assert_problem(response, 413)
            assert body.pulled <= 9, (path, body.pulled)


async def test_a_body_under_the_limit_still_reaches_the_route(api: Api) -> None:
    """Just under 1 MiB of broken JSON gets past the limit to the parser (400, not 413)."""
    body = b"{" + b" " * (1024 * 1024 - 2)
    response = await api.http.post(
        "/v1/auth/login", content=body, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400)
    nul = await api.http.post(
        "/v1/auth/login",
        content=b'{"email": "a\\u0000@example.com", "password": "x"}',
        headers={"Content-Type": "application/json"},
    )
    assert assert_problem(nul, 422)["errors"][0]["field"] == "body"


async def test_a_bad_content_length_is_400(api: Api) -> None:
    response = await api.http.post("/v1/auth/login", headers={"Content-Length": "-5"})
    assert_problem(response, 400)


# --- headers (P2.0a.10) -------------------------------------------------------------------


async def test_every_response_says_nosniff_even_a_500(settings: Settings, db: Database) -> None:
    app = create_app(settings, database=db, rate_limits=NO_LIMITS)

    async def boom() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        responses = [
            await http.get("/health"),
            await http.get("/nope"),
            await http.post("/v1/auth/login", content=b"{", headers={"Content-Length": "9999999"}),
            await http.get("/boom"),
        ]
    assert [r.status_code for r in responses] == [200, 404, 413, 500]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"


async def test_token_and_private_answers_are_never_stored(api: Api) -> None:
    registered = await api.http.post(
        "/v1/auth/register",
        json={
            "email": "cc@example.com",
            "username": "cc_user",
            "name": "C C",
            "password": "cache-control 42!",
        },
    )
    assert registered.status_code == 201, registered.text
    assert registered.headers["cache-control"] == "no-store"
    login = await api.http.post(
        "/v1/auth/login", json={"email": "cc@example.com", "password": "cache-control 42!"}
    )
    assert login.status_code == 200 and login.headers["cache-control"] == "no-store"
    me = await api.http.get("/v1/me", headers={"Authorization": f"Bearer {login.json()['token']}"})
    assert me.status_code == 200 and me.headers["cache-control"] == "no-store"
    # anonymous public lists may be kept briefly by shared caches (docs/lists.md)
    anonymous = (await api.http.get("/v1/posts")).headers["cache-control"]
    assert anonymous == "public, max-age=5, stale-while-revalidate=30"


async def test_cors_is_off_by_default(api: Api) -> None:
    preflight = await api.http.options(
        "/v1/posts",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    plain = await api.http.get("/v1/posts", headers={"Origin": "https://app.example"})
    assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers


async def test_cors_preflight_from_an_allowed_and_a_refused_origin(
    settings: Settings, db: Database
) -> None:
    async for api in _api(settings, db, cors_origins="https://app.example", cors_credentials=True):
        asked = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        }
        allowed = await api.http.options(
            "/v1/posts", headers={"Origin": "https://app.example", **asked}
        )
        assert allowed.status_code == 200, allowed.text
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        assert allowed.headers["access-control-allow-credentials"] == "true"
        assert "POST" in allowed.headers["access-control-allow-methods"]
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()

        refused = await api.http.options(
            "/v1/posts", headers={"Origin": "https://evil.example", **asked}
        )
        assert_problem(refused, 400)
        assert "access-control-allow-origin" not in refused.headers

        simple = await api.http.get("/v1/posts", headers={"Origin": "https://app.example"})
        assert simple.headers["access-control-allow-origin"] == "https://app.example"
        assert "Retry-After" in simple.headers["access-control-expose-headers"]


def test_cors_credentials_need_explicit_origins() -> None:
    from stratabase.exceptions import ConfigError
    from stratabase.settings import load_settings

    with pytest.raises(ConfigError, match="STRATABASE_CORS_CREDENTIALS"):
        load_settings(cors_origins="*", cors_credentials=True)


async def test_head_answers_on_get_routes(api: Api) -> None:
    writer = await api.user()
    post = await api.post(writer)
    for path in ["/health", "/v1/posts", f"/v1/posts/{post['id']}", "/openapi.json", "/docs"]:
        got = await api.http.get(path)
        head = await api.http.head(path)
        assert head.status_code == 200, (path, head.text)
        assert head.content == b""
        if path != "/health":  # its latency figure changes length from call to call
            assert head.headers["content-length"] == got.headers["content-length"]
        assert head.headers["content-type"] == got.headers["content-type"]
    missing = await api.http.head("/v1/posts/999999")
    assert missing.status_code == 404 and missing.content == b""
    assert missing.headers["content-type"] == "application/problem+json"


async def test_405_lists_every_allowed_method(api: Api) -> None:
    response = await api.http.put("/v1/posts/1")
    assert_problem(response, 405)
    assert response.headers["allow"] == "DELETE, GET, HEAD, PATCH"
    response = await api.http.get("/v1/auth/login")
    assert_problem(response, 405)
    assert response.headers["allow"] == "POST"
    response = await api.http.head("/v1/auth/logout")
    assert response.status_code == 405 and response.headers["allow"] == "POST"


async def test_health_details_are_for_admins(api: Api) -> None:
    admin, user = await api.user(role=Role.ADMIN), await api.user()
    anonymous = (await api.http.get("/health/db")).json()
    assert anonymous["status"] == "ok" and anonymous["latency_ms"] > 0
    assert "pool" not in anonymous and "queries" not in anonymous
    assert "pool" not in (await api.http.get("/health/db", headers=user.headers)).json()
    detailed = (await api.http.get("/health/db", headers=admin.headers)).json()
    assert detailed["pool"]["size"] >= 1 and isinstance(detailed["queries"], dict)
    overall = (await api.http.get("/health")).json()
    assert set(overall["checks"]["database"]) <= {"status", "backend", "latency_ms"}
    assert_problem(await api.http.get("/health/db", headers={"Authorization": "Bearer nope"}), 401)


async def test_health_details_can_be_public_by_setting(settings: Settings, db: Database) -> None:
    async for api in _api(settings, db, health_details=True):
        assert (await api.http.get("/health/db")).json()["pool"]["size"] >= 1
        assert "pool" in (await api.http.get("/health")).json()["checks"]["database"]
