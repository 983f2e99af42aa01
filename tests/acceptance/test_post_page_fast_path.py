"""The anonymous post page's fast path: it answers below the framework, and what it answers
is exactly what the route would have answered (body, ETag/304, headers, rate limit)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from stratabase.api.app import create_app
from stratabase.api.fast_path import PostPageFastPath
from stratabase.db.session import Database
from stratabase.ratelimit import RateLimits
from stratabase.settings import Settings
from tests.acceptance.api_support import Api, assert_problem, make_api

_COMPARED = (
    "etag",
    "cache-control",
    "vary",
    "content-type",
    "content-length",
    "x-content-type-options",
    "x-frame-options",
)


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for api in make_api(settings, db):
        yield api


async def test_fast_answer_is_the_route_answer(api: Api) -> None:
    author = await api.user()
    post = await api.post(author, title="Same either way")
    url = f"/v1/posts/{post['id']}"
    await api.http.get(url)  # warm the cache
    fast = await api.http.get(url)
    # An Origin header sends the request through the whole application.
    full = await api.http.get(url, headers={"Origin": "http://elsewhere.test"})
    assert fast.status_code == full.status_code == 200
    assert fast.content == full.content
    for name in _COMPARED:
        assert fast.headers.get(name) == full.headers.get(name), name
    assert fast.json()["title"] == "Same either way"


async def test_a_change_is_answered_at_once_and_never_304(api: Api) -> None:
    author = await api.user()
    post = await api.post(author)
    url = f"/v1/posts/{post['id']}"
    first = await api.http.get(url)
    etag = first.headers["etag"]
    assert (await api.http.get(url, headers={"If-None-Match": etag})).status_code == 304
    edited = await api.http.patch(url, json={"title": "Edited"}, headers=author.headers)
    assert edited.status_code == 200, edited.text
    after = await api.http.get(url, headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.json()["title"] == "Edited"
    assert after.headers["etag"] != etag


class _Refuse:
    """Stands for the framework: any request it receives is answered 418."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@asynccontextmanager
async def behind_refusal(app: Any) -> AsyncIterator[tuple[httpx.AsyncClient, _Refuse]]:
    """A client whose requests reach the fast path of ``app`` over a stand-in for the
    framework that answers 418 to anything passed on (and counts it)."""
    inner = _Refuse()
    fast = PostPageFastPath(inner)

    async def with_app(scope: Scope, receive: Receive, send: Send) -> None:
        await fast({**scope, "app": app}, receive, send)

    transport = httpx.ASGITransport(app=with_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http, inner


async def test_only_anonymous_visible_plain_pages_take_the_fast_path(
    settings: Settings, db: Database, api: Api
) -> None:
    author = await api.user()
    published = await api.post(author)
    draft = await api.post(author, status="draft")
    async with behind_refusal(create_app(settings, database=db)) as (http, inner):
        page = await http.get(f"/v1/posts/{published['id']}")
        assert page.status_code == 200
        assert page.json()["id"] == published["id"]
        assert inner.calls == 0
        not_modified = await http.get(
            f"/v1/posts/{published['id']}", headers={"If-None-Match": page.headers["etag"]}
        )
        assert not_modified.status_code == 304
        assert inner.calls == 0
        passed_on = [
            await http.get(f"/v1/posts/{draft['id']}"),  # not visible: the route says 404
            await http.get(f"/v1/posts/{published['id']}", headers=author.headers),
            await http.get(f"/v1/posts/{published['id']}?include=comments"),
            await http.get(f"/v1/posts/0{published['id']}"),
            await http.get("/v1/posts/99999999999999999999"),
            await http.head(f"/v1/posts/{published['id']}"),
        ]
        assert [r.status_code for r in passed_on] == [418] * len(passed_on)
        assert inner.calls == len(passed_on)


async def test_the_fast_path_is_rate_limited_like_the_route(
    settings: Settings, db: Database
) -> None:
    limits = RateLimits(read="3/minute", write=None, auth=None, login=None)
    async for api in make_api(settings, db, limits):
        author = await api.user()
        post = await api.post(author)
        url = f"/v1/posts/{post['id']}"
        answers = [await api.http.get(url) for _ in range(4)]
        assert [r.status_code for r in answers[:3]] == [200, 200, 200]
        problem = assert_problem(answers[3], 429)
        assert "too many requests" in problem["detail"]
        assert answers[3].headers["retry-after"]
