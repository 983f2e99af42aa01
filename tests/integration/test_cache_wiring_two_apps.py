"""Two API "processes" (two apps, two two-tier caches) on one database and one Redis: a
write through app A reaches reads through app B, although B had the old value in its local
tier, as soon as A's invalidation message arrives (docs/cache.md): the test waits for that,
never for a duration."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from stratabase.cache import SmartCache, build_cache
from stratabase.cache.two_tier import TwoTierStore
from stratabase.db.session import Database
from stratabase.settings import Settings
from tests.acceptance.api_support import Api, assert_problem
from tests.integration.cache_wiring_support import serve
from tests.integration.test_cache_redis import until


@pytest.fixture
async def caches(
    settings: Settings, redis_url: str, redis_prefix: str
) -> AsyncIterator[tuple[Settings, SmartCache, SmartCache]]:
    shared = settings.model_copy(update={"redis_url": redis_url, "redis_prefix": redis_prefix})
    first, second = build_cache(shared), build_cache(shared)
    try:
        for cache in (first, second):
            assert isinstance(cache.store, TwoTierStore)
            await cache.store.wait_subscribed()
        yield shared, first, second
    finally:
        await first.close()
        await second.close()


@pytest.fixture
async def apps(
    caches: tuple[Settings, SmartCache, SmartCache], db: Database
) -> AsyncIterator[tuple[Api, Api]]:
    settings, first, second = caches
    async with serve(settings, db, first) as a, serve(settings, db, second) as b:
        yield a, b


async def _json(api: Api, url: str, field: str, expected: object) -> bool:
    return bool((await api.http.get(url)).json()[field] == expected)


async def _local_hits(cache: SmartCache) -> int:
    return sum(t.get("local", {}).get("hits", 0) for t in cache.metrics.snapshot().values())


async def test_a_write_through_one_app_is_seen_by_the_next_read_through_the_other(
    apps: tuple[Api, Api], caches: tuple[Settings, SmartCache, SmartCache]
) -> None:
    a, b = apps
    author, fan = await a.user(), await a.user()
    post = await a.post(author, title="Old title")
    url = f"/v1/posts/{post['id']}"
    profile = f"/v1/users/{author.id}"
    for _ in range(2):  # B: a Redis hit copied locally, then a local hit
        assert (await b.http.get(url)).json()["title"] == "Old title"
        assert (await b.http.get(profile)).json()["stats"]["followers"] == 0
    assert await _local_hits(caches[2]) >= 2

    await a.http.patch(url, json={"title": "New title"}, headers=author.headers)
    await until(lambda: _json(b, url, "title", "New title"), "B's post page")

    comments = url + "/comments"
    assert (await b.http.get(comments)).json()["items"] == []
    assert (await b.http.get(comments)).json()["items"] == []
    await a.comment(fan, post["id"], "hello from A")

    async def comment_seen() -> bool:
        items = (await b.http.get(comments)).json()["items"]
        return [c["body"] for c in items] == ["hello from A"]

    await until(comment_seen, "B's comment tree")

    await a.http.post(f"/v1/users/{author.id}/follow", headers=fan.headers)

    async def followed() -> bool:
        return bool((await b.http.get(profile)).json()["stats"]["followers"] == 1)

    await until(followed, "B's profile")

    assert (await b.http.get("/v1/me", headers=fan.headers)).status_code == 200
    assert (await b.http.get("/v1/me", headers=fan.headers)).status_code == 200
    assert (await a.http.post("/v1/auth/logout", headers=fan.headers)).status_code == 204

    async def signed_out() -> bool:
        return (await b.http.get("/v1/me", headers=fan.headers)).status_code == 401

    await until(signed_out, "B's session cache")
    assert_problem(await b.http.get("/v1/me", headers=fan.headers), 401)
