"""The post page read path: bytes served from the cache without SQL, counters exact within
their stated bound, ETag/304 that never hides a change, Cache-Control by audience, and
``include=comments`` — on the in-process cache and on two tiers over Redis, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.api.responses import PUBLIC_CACHE_CONTROL
from stratabase.api.schemas.posts import PostOut
from stratabase.auth.principal import Principal
from stratabase.cache import SmartCache, build_cache
from stratabase.cache.factory import redis_store
from stratabase.cache.memory import MemoryStore
from stratabase.cache.two_tier import TwoTierStore
from stratabase.content import comments, counters, queries
from stratabase.db.session import Database
from stratabase.enums import MediaType, Role, UserStatus
from stratabase.models import Media, Post
from stratabase.settings import Settings
from tests.acceptance.api_support import Actor, Api, assert_problem, count_queries
from tests.integration.cache_wiring_support import serve


class Clock:
    """Wall time moved forward on demand: the cache judges freshness by it."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def clocked(
    wired: tuple[Settings, SmartCache], clock: Clock, request: pytest.FixtureRequest
) -> AsyncIterator[SmartCache]:
    """A cache of the same kind as ``wired``'s whose expiry follows ``clock``."""
    cache: SmartCache
    if wired[0].redis_url:
        redis_url = wired[0].redis_url
        redis_prefix = request.getfixturevalue("redis_prefix")
        local = MemoryStore(tier="local", clock=clock)
        store = TwoTierStore(local, redis_store(redis_url, redis_prefix + "c:"), redis_url)
        cache = SmartCache(store, mode="two-tier")
        await store.wait_subscribed()
    else:
        cache = SmartCache(MemoryStore(clock=clock), mode="memory")
    try:
        yield cache
    finally:
        await cache.close()


@pytest.fixture
async def capi(
    wired: tuple[Settings, SmartCache], db: Database, clocked: SmartCache
) -> AsyncIterator[Api]:
    async with serve(wired[0], db, clocked) as made:
        yield made


async def _get(
    api: Api, url: str, headers: dict[str, str] | None = None
) -> tuple[httpx.Response, int]:
    with api.db.monitor.count() as counter:
        response = await api.http.get(url, headers=headers or {})
    return response, count_queries(counter.sql)


async def _expected(db: Database, post_id: int, viewer: Actor | None) -> bytes:
    """What ``PostOut`` serializes for this post and viewer, loaded without any cache."""
    principal = (
        None
        if viewer is None
        else Principal(user_id=viewer.id, role=Role.USER, status=UserStatus.ACTIVE)
    )

    async def work(session: AsyncSession) -> bytes:
        post = await session.get(Post, post_id)
        assert post is not None
        answer = (await queries.hydrate(session, [post], principal))[0]
        return PostOut.model_validate(answer).model_dump_json().encode()

    return await db.transaction(work)


async def _rich_post(api: Api, author: Actor) -> dict[str, Any]:
    category = await api.category()
    post = await api.post(
        author,
        title='Ünïcode <b>title</b> "quoted"',
        category_id=category,
        tags=["Python", "SQL"],
        content_blocks=[{"type": "heading", "text": "Intro", "level": 2}],
        metadata={"stats": None, "nested": {"a": [1, 2.5, "x"]}},
    )

    async def work(session: AsyncSession) -> None:
        session.add(
            Media(post_id=post["id"], url="https://cdn.example.com/1.png", type=MediaType.IMAGE)
        )

    await api.db.transaction(work)
    await api.http.patch(
        f"/v1/posts/{post['id']}", json={"summary": "s"}, headers=author.headers
    )  # invalidates the body cached before the media row existed
    return post


async def test_an_anonymous_hit_costs_no_statement_and_is_postout_byte_for_byte(
    api: Api, db: Database
) -> None:
    author, reader = await api.user(), await api.user()
    post = await _rich_post(api, author)
    url = f"/v1/posts/{post['id']}"
    assert (await api.http.post(url + "/like", headers=reader.headers)).status_code == 200

    miss, miss_cost = await _get(api, url)
    hit, hit_cost = await _get(api, url)
    assert miss.status_code == hit.status_code == 200
    assert hit_cost == 0 < miss_cost
    assert hit.content == miss.content == await _expected(db, post["id"], None)
    assert hit.headers["content-type"] == "application/json"

    await api.http.get(url, headers=reader.headers)  # the session lookup is cached from here
    mine, mine_cost = await _get(api, url, reader.headers)
    assert mine_cost == 1  # exact counters and the reader's like, together
    assert mine.content == await _expected(db, post["id"], reader)
    assert mine.json()["liked"] is True
    assert (await api.http.get(url, headers=author.headers)).json()["liked"] is False


async def test_likes_and_comments_show_at_once_views_within_the_bound(
    capi: Api, clock: Clock
) -> None:
    api = capi
    author, reader = await api.user(), await api.user()
    post = await api.post(author)
    url = f"/v1/posts/{post['id']}"

    async def anonymous() -> dict[str, int]:
        response = await api.http.get(url)
        assert response.status_code == 200, response.text
        return response.json()["stats"]  # type: ignore[no-any-return]

    assert (await anonymous())["likes"] == 0  # cached from here
    await api.http.post(url + "/like", headers=reader.headers)
    assert (await anonymous())["likes"] == 1
    await api.http.delete(url + "/like", headers=reader.headers)
    assert (await anonymous())["likes"] == 0
    created = await api.comment(reader, post["id"], "first")
    assert (await anonymous())["comments"] == 1
    assert (
        await api.http.delete(f"/v1/comments/{created['id']}", headers=reader.headers)
    ).status_code == 204
    assert (await anonymous())["comments"] == 0

    assert (await api.http.post(url + "/views", headers=reader.headers)).status_code == 200
    mine = (await api.http.get(url, headers=reader.headers)).json()["stats"]
    assert mine["views"] == 1  # its author sees their view at once
    await anonymous()  # everyone else may see the cached count ...
    clock.advance(counters.BOUND + 0.5)
    assert (await anonymous())["views"] == 1  # ... for BOUND seconds at most


async def test_a_changed_post_never_answers_304(capi: Api, clock: Clock) -> None:
    api = capi
    author, reader = await api.user(), await api.user()
    moderator = await api.user(role=Role.MODERATOR)
    post = await api.post(author)
    url = f"/v1/posts/{post['id']}"

    async def revalidate(etag: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await api.http.get(url, headers={"If-None-Match": etag, **(headers or {})})

    first = await api.http.get(url)
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    same = await revalidate(etag)
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
    assert (await revalidate(f'W/{etag}, "other"')).status_code == 304
    assert (await revalidate('"other"')).status_code == 200

    changes = [
        lambda: api.http.patch(url, json={"title": "Edited"}, headers=author.headers),
        lambda: api.http.post(url + "/like", headers=reader.headers),
        lambda: api.http.delete(url + "/like", headers=reader.headers),
        lambda: api.http.post(
            f"{url}/comments", json={"body": "a comment"}, headers=reader.headers
        ),
        lambda: api.http.post(url + "/archive", headers=author.headers),
        lambda: api.http.post(url + "/publish", headers=author.headers),
        lambda: api.http.post(url + "/hide", headers=moderator.headers),
    ]
    seen = {etag}
    for change in changes:
        assert (await change()).status_code in (200, 201)
        answer = await revalidate(etag, author.headers)
        assert answer.status_code == 200, answer.text
        etag = answer.headers["etag"]
        assert etag not in seen
        seen.add(etag)
        assert (await revalidate(etag, author.headers)).status_code == 304

    # A view changes the anonymous page once the bound has passed: never a 304 after it.
    public = await api.user()
    other = await api.post(public)
    other_url = f"/v1/posts/{other['id']}"
    etag = (await api.http.get(other_url)).headers["etag"]
    await api.http.post(other_url + "/views")
    clock.advance(counters.BOUND + 0.5)
    after = await api.http.get(other_url, headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.json()["stats"]["views"] == 1

    # Each reader's own like is part of the tag: the anonymous copy never matches theirs.
    anonymous_tag = (await api.http.get(other_url)).headers["etag"]
    theirs = await api.http.get(
        other_url, headers={"If-None-Match": anonymous_tag, **reader.headers}
    )
    assert theirs.status_code == 200 and theirs.json()["liked"] is False


async def test_cache_control_public_for_anonymous_no_store_when_signed_in(api: Api) -> None:
    author = await api.user()
    post = await api.post(author)
    url = f"/v1/posts/{post['id']}"
    anonymous = await api.http.get(url)
    assert anonymous.headers["cache-control"] == PUBLIC_CACHE_CONTROL
    assert "stale-while-revalidate=" in PUBLIC_CACHE_CONTROL
    assert anonymous.headers["vary"] == "Authorization"
    not_modified = await api.http.get(url, headers={"If-None-Match": anonymous.headers["etag"]})
    assert not_modified.headers["cache-control"] == PUBLIC_CACHE_CONTROL
    signed_in = await api.http.get(url, headers=author.headers)
    assert signed_in.status_code == 200 and signed_in.headers["cache-control"] == "no-store"
    draft = await api.post(author, status="draft")
    missing = await api.http.get(f"/v1/posts/{draft['id']}")
    assert_problem(missing, 404)
    assert "public" not in missing.headers.get("cache-control", "")


async def test_include_comments_embeds_the_first_comment_page(api: Api) -> None:
    author, reader = await api.user(), await api.user()
    post = await api.post(author)
    url = f"/v1/posts/{post['id']}"
    first = await api.comment(reader, post["id"], "first")
    await api.comment(author, post["id"], "a reply", parent_id=first["id"])
    for i in range(21):  # more than one page of threads
        await api.comment(reader, post["id"], f"thread {i}")

    page, _ = await _get(api, url + "?include=comments")
    tree = await api.http.get(url + "/comments")
    assert page.status_code == tree.status_code == 200
    body = page.json()
    assert body["comments"] == tree.json()
    assert body["comments"]["has_more"] is True and body["comments"]["next_cursor"]
    assert body["comments"]["items"][0]["replies"][0]["body"] == "a reply"
    assert {k: v for k, v in body.items() if k != "comments"} == (await api.http.get(url)).json()

    hit, hit_cost = await _get(api, url + "?include=comments")
    assert hit_cost == 0 and hit.content == page.content
    assert (
        await api.http.get(
            url + "?include=comments", headers={"If-None-Match": hit.headers["etag"]}
        )
    ).status_code == 304

    await api.http.patch(
        f"/v1/comments/{first['id']}", json={"body": "first, edited"}, headers=reader.headers
    )
    edited = (await api.http.get(url + "?include=comments")).json()
    assert edited["comments"]["items"][0]["body"] == "first, edited"
    await api.http.post(f"/v1/comments/{first['id']}/like", headers=author.headers)
    liked = (await api.http.get(url + "?include=comments", headers=author.headers)).json()
    assert liked["comments"]["items"][0]["liked"] is True
    assert liked["comments"]["items"][0]["like_count"] == 1
    anonymous = (await api.http.get(url + "?include=comments")).json()
    assert anonymous["comments"]["items"][0]["liked"] is False
    assert anonymous["comments"]["items"][0]["like_count"] == 1

    lonely = await api.post(author)
    lonely_url = f"/v1/posts/{lonely['id']}?include=comments"
    assert (await api.http.get(lonely_url)).json()["comments"]["items"] == []
    await api.comment(reader, lonely["id"], "now one")
    shown = (await api.http.get(lonely_url)).json()
    assert [c["body"] for c in shown["comments"]["items"]] == ["now one"]
    assert shown["stats"]["comments"] == 1

    problem = assert_problem(await api.http.get(url + "?include=everything"), 422)
    assert "include" in str(problem)


def test_the_counters_entry_carries_the_comment_pages_tag() -> None:
    assert comments.tag_comments(7) in counters.stats_tags(7)


@pytest.fixture
async def two_apps(
    settings: Settings, db: Database, redis_url: str, redis_prefix: str
) -> AsyncIterator[tuple[Api, Api]]:
    """Two API "processes" (two apps, two two-tier caches) on one database and one Redis."""
    shared = settings.model_copy(update={"redis_url": redis_url, "redis_prefix": redis_prefix})
    first, second = build_cache(shared), build_cache(shared)
    try:
        for cache in (first, second):
            assert isinstance(cache.store, TwoTierStore)
            await cache.store.wait_subscribed()
        async with serve(shared, db, first) as a, serve(shared, db, second) as b:
            yield a, b
    finally:
        await first.close()
        await second.close()


async def test_a_like_or_comment_through_one_process_reaches_anonymous_pages_of_the_other(
    two_apps: tuple[Api, Api],
) -> None:
    a, b = two_apps
    author, fan = await a.user(), await a.user()
    post = await a.post(author)
    url = f"/v1/posts/{post['id']}"
    for _ in range(2):  # B: a Redis hit copied locally, then a local hit
        page = (await b.http.get(url + "?include=comments")).json()
        assert (page["stats"]["likes"], page["comments"]["items"]) == (0, [])
    etag = (await b.http.get(url)).headers["etag"]

    await a.http.post(url + "/like", headers=fan.headers)
    liked = await _eventually(
        lambda: b.http.get(url, headers={"If-None-Match": etag}),
        lambda r: r.status_code == 200 and r.json()["stats"]["likes"] == 1,
    )
    assert liked.headers["etag"] != etag

    await a.comment(fan, post["id"], "hello from A")
    page = (
        await _eventually(
            lambda: b.http.get(url + "?include=comments"),
            lambda r: r.json()["stats"]["comments"] == 1,
        )
    ).json()
    assert [c["body"] for c in page["comments"]["items"]] == ["hello from A"]


async def _eventually(
    request: Callable[[], Awaitable[httpx.Response]],
    ready: Callable[[httpx.Response], bool],
    deadline: float = 10.0,
) -> httpx.Response:
    """The first answer that is ``ready``: B sees A's write once the invalidation message
    reaches it (milliseconds), polled with a deadline rather than assumed."""
    until = time.monotonic() + deadline
    while True:
        response = await request()
        if ready(response) or time.monotonic() > until:
            assert ready(response), response.text
            return response
        await asyncio.sleep(0.01)


async def test_reads_racing_likes_never_leave_an_old_count_cached(api: Api) -> None:
    author = await api.user()
    fans = [await api.user() for _ in range(12)]
    post = await api.post(author)
    url = f"/v1/posts/{post['id']}"
    # A counters load that read the row before a like committed must not be stored after
    # the like's invalidation: the last anonymous read sees every like.
    await asyncio.gather(
        *(api.http.post(url + "/like", headers=fan.headers) for fan in fans),
        *(api.http.get(url) for _ in range(24)),
    )
    assert (await api.http.get(url)).json()["stats"]["likes"] == 12
