"""Search results and feeds go through the cache: a read after a committed write through the
API never returns the old page, a hit costs fewer statements than a miss, and a page
filtered for one viewer (mutes, blocks) is never shown to another. Each case runs on both
database backends, with the in-process cache and with two tiers over Redis."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import httpx

from stratabase.cache import SmartCache, build_cache
from stratabase.cache.two_tier import TwoTierStore
from stratabase.db.session import Database
from stratabase.enums import Role
from stratabase.jobs.tasks import episodes
from stratabase.settings import Settings
from tests.acceptance.api_support import Actor, Api, count_queries
from tests.integration.cache_wiring_support import serve
from tests.integration.test_cache_redis import until
from tests.integration.test_jobs_publishing import _context, _world


async def _costed(
    api: Api, url: str, actor: Actor | None = None, **params: Any
) -> tuple[list[int], int]:
    """Ids of a page's items (posts or search hits) and the statements it cost."""
    headers = actor.headers if actor else {}
    with api.db.monitor.count() as counter:
        response = await api.http.get(url, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]], count_queries(counter.sql)


async def _ids(api: Api, url: str, actor: Actor | None = None, **params: Any) -> list[int]:
    return (await _costed(api, url, actor, **params))[0]


async def _search(api: Api, q: str, actor: Actor | None = None) -> list[int]:
    return await _ids(api, "/v1/search", actor, q=q)


async def _same(ids: Awaitable[list[int]], expected: list[int], *, ordered: bool = True) -> bool:
    got = await ids
    return got == expected if ordered else sorted(got) == sorted(expected)


async def _ok(response: httpx.Response) -> None:
    assert response.status_code in (200, 204), response.text


async def test_search_hit_is_cheaper_and_every_post_write_shows_at_once(api: Api) -> None:
    author, fan = await api.user(), await api.user()
    moderator = await api.user(role=Role.MODERATOR)
    first = await api.post(author, title="Zebra crossing")

    miss, miss_cost = await _costed(api, "/v1/search", q="zebra")
    hit, hit_cost = await _costed(api, "/v1/search", q="  zebra ")  # same normalised query
    assert miss == hit == [first["id"]]
    assert hit_cost < miss_cost

    second = await api.post(author, title="Zebra stripes")
    assert sorted(await _search(api, "zebra")) == sorted([first["id"], second["id"]])

    url = f"/v1/posts/{first['id']}"
    await _ok(await api.http.patch(url, json={"title": "Okapi crossing"}, headers=author.headers))
    assert await _search(api, "okapi") == [first["id"]]
    assert await _search(api, "zebra") == [second["id"]]

    await _ok(await api.http.post(url + "/like", headers=fan.headers))
    page = (await api.http.get("/v1/search", params={"q": "okapi"}, headers=fan.headers)).json()
    assert (page["items"][0]["post"]["stats"]["likes"], page["items"][0]["post"]["liked"]) == (
        1,
        True,
    )
    anonymous = (await api.http.get("/v1/search", params={"q": "okapi"})).json()
    assert anonymous["items"][0]["post"]["liked"] is None

    hide = f"/v1/posts/{second['id']}/hide"
    await _ok(await api.http.post(hide, headers=moderator.headers))
    assert await _search(api, "zebra") == []
    await _ok(await api.http.delete(url, headers=author.headers))
    assert await _search(api, "okapi") == []


async def test_search_pages_of_one_viewer_never_reach_another(api: Api) -> None:
    muter, other, loud = await api.user(), await api.user(), await api.user()
    post = await api.post(loud, title="Trumpet news")
    assert await _search(api, "trumpet", muter) == [post["id"]]  # cached for the muter
    await _ok(await api.http.post(f"/v1/users/{loud.id}/mute", headers=muter.headers))
    for _ in range(2):  # the second round is served from the cache
        assert await _search(api, "trumpet", muter) == []
        assert await _search(api, "trumpet", other) == [post["id"]]
        assert await _search(api, "trumpet") == [post["id"]]
    await _ok(await api.http.delete(f"/v1/users/{loud.id}/mute", headers=muter.headers))
    assert await _search(api, "trumpet", muter) == [post["id"]]
    await _ok(await api.http.post(f"/v1/users/{muter.id}/block", headers=loud.headers))
    assert await _search(api, "trumpet", muter) == []  # blocked by the author
    assert await _search(api, "trumpet", other) == [post["id"]]


async def test_search_cursor_pages_are_cached_apart(api: Api) -> None:
    author = await api.user()
    made = [(await api.post(author, title=f"Walrus {i}"))["id"] for i in range(3)]
    first = (await api.http.get("/v1/search", params={"q": "walrus", "limit": 2})).json()
    cursor = first["next_cursor"]
    assert cursor is not None
    for _ in range(2):
        rest = await _ids(api, "/v1/search", q="walrus", limit=2, cursor=cursor)
        assert sorted([item["id"] for item in first["items"]] + rest) == sorted(made)


async def test_home_feed_follows_mutes_blocks_and_new_posts_show_at_once(api: Api) -> None:
    me, a, b = await api.user(), await api.user(), await api.user()
    await _ok(await api.http.post(f"/v1/users/{a.id}/follow", headers=me.headers))
    p1 = await api.post(a, title="One")
    miss, miss_cost = await _costed(api, "/v1/feed", me)
    hit, hit_cost = await _costed(api, "/v1/feed", me)
    assert miss == hit == [p1["id"]]
    assert hit_cost < miss_cost

    p2 = await api.post(a, title="Two")
    assert await _ids(api, "/v1/feed", me) == [p2["id"], p1["id"]]
    url = f"/v1/posts/{p2['id']}"
    await _ok(await api.http.patch(url, json={"title": "Two, edited"}, headers=a.headers))
    feed = (await api.http.get("/v1/feed", headers=me.headers)).json()
    assert feed["items"][0]["title"] == "Two, edited"

    pb = await api.post(b, title="B")
    assert pb["id"] not in await _ids(api, "/v1/feed", me)
    await _ok(await api.http.post(f"/v1/users/{b.id}/follow", headers=me.headers))
    assert await _ids(api, "/v1/feed", me) == [pb["id"], p2["id"], p1["id"]]

    await _ok(await api.http.delete(f"/v1/users/{b.id}/follow", headers=me.headers))
    assert await _ids(api, "/v1/feed", me) == [p2["id"], p1["id"]]
    await _ok(await api.http.post(f"/v1/users/{a.id}/mute", headers=me.headers))
    assert await _ids(api, "/v1/feed", me) == []
    await _ok(await api.http.delete(f"/v1/users/{a.id}/mute", headers=me.headers))
    assert await _ids(api, "/v1/feed", me) == [p2["id"], p1["id"]]
    await _ok(await api.http.post(f"/v1/posts/{p1['id']}/archive", headers=a.headers))
    assert await _ids(api, "/v1/feed", me) == [p2["id"]]
    await _ok(await api.http.post(f"/v1/users/{me.id}/block", headers=a.headers))
    assert await _ids(api, "/v1/feed", me) == []


async def test_home_feeds_are_per_user(api: Api) -> None:
    muter, fan, author = await api.user(), await api.user(), await api.user()
    for reader in (muter, fan):
        await _ok(await api.http.post(f"/v1/users/{author.id}/follow", headers=reader.headers))
    post = await api.post(author)
    await _ok(await api.http.post(f"/v1/users/{author.id}/mute", headers=muter.headers))
    for _ in range(2):
        assert await _ids(api, "/v1/feed", fan) == [post["id"]]
        assert await _ids(api, "/v1/feed", muter) == []


async def test_category_feed_follows_post_writes_and_viewer_filters(api: Api) -> None:
    author, muter, other = await api.user(), await api.user(), await api.user()
    tech, art = await api.category("Tech"), await api.category("Art")
    tech_url, art_url = f"/v1/feed/categories/{tech}", f"/v1/feed/categories/{art}"
    p1 = await api.post(author, category_id=tech)

    miss, miss_cost = await _costed(api, tech_url)
    hit, hit_cost = await _costed(api, tech_url)
    assert miss == hit == [p1["id"]]
    assert hit_cost < miss_cost
    assert await _ids(api, art_url) == []

    p2 = await api.post(author, category_id=tech)
    assert await _ids(api, tech_url) == [p2["id"], p1["id"]]
    url = f"/v1/posts/{p1['id']}"
    await _ok(await api.http.patch(url, json={"category_id": art}, headers=author.headers))
    assert await _ids(api, tech_url) == [p2["id"]]
    assert await _ids(api, art_url) == [p1["id"]]
    await _ok(await api.http.post(f"/v1/posts/{p2['id']}/archive", headers=author.headers))
    assert await _ids(api, tech_url) == []

    await _ok(await api.http.post(f"/v1/users/{author.id}/mute", headers=muter.headers))
    for _ in range(2):
        assert await _ids(api, art_url, muter) == []
        assert await _ids(api, art_url, other) == [p1["id"]]
        assert await _ids(api, art_url) == [p1["id"]]


async def test_an_episode_post_made_by_a_job_shows_in_the_owner_profile_and_feeds(
    api: Api, wired: tuple[Settings, SmartCache], db: Database
) -> None:
    settings, cache = wired
    ids = await _world(db)
    fan, first = await api.user(), await api.user()
    owner = ids["user"]
    await _ok(await api.http.post(f"/v1/users/{owner}/follow", headers=fan.headers))
    await _ok(await api.http.post(f"/v1/users/{first.id}/follow", headers=fan.headers))
    early = await api.post(first)
    profile = f"/v1/users/{owner}"
    for _ in range(2):  # cached
        assert (await api.http.get(profile)).json()["stats"]["posts"] == 0
        assert await _ids(api, "/v1/feed", fan) == [early["id"]]

    context = _context(db, settings, **{episodes.CACHE: cache})
    payload = {"project_id": ids["project"], "scheduled_for": "2099-03-08T07:30:00+00:00"}
    result = await episodes.generate(context, payload)
    assert (await api.http.get(profile)).json()["stats"]["posts"] == 1
    assert await _ids(api, "/v1/feed", fan) == [result["post_id"], early["id"]]


async def test_a_write_through_one_app_reaches_search_and_feeds_cached_by_another(
    settings: Settings, redis_url: str, redis_prefix: str, db: Database
) -> None:
    shared = settings.model_copy(update={"redis_url": redis_url, "redis_prefix": redis_prefix})
    first, second = build_cache(shared), build_cache(shared)
    try:
        for cache in (first, second):
            assert isinstance(cache.store, TwoTierStore)
            await cache.store.wait_subscribed()
        async with serve(shared, db, first) as a, serve(shared, db, second) as b:
            me, author = await a.user(), await a.user()
            tech = await a.category()
            await _ok(await a.http.post(f"/v1/users/{author.id}/follow", headers=me.headers))
            old = await a.post(author, title="Narwhal", category_id=tech)
            for _ in range(2):  # B: a Redis hit copied locally, then a local hit
                assert await _search(b, "narwhal") == [old["id"]]
                assert await _search(b, "narwhal", me) == [old["id"]]
                assert await _ids(b, "/v1/feed", me) == [old["id"]]
                assert await _ids(b, f"/v1/feed/categories/{tech}") == [old["id"]]
            new = await a.post(author, title="Narwhal again", category_id=tech)
            both = [new["id"], old["id"]]
            # B learns of A's writes by the invalidation message (docs/cache.md): wait for it.
            await until(
                lambda: _same(_search(b, "narwhal"), both, ordered=False), "B's search page"
            )
            await until(lambda: _same(_ids(b, "/v1/feed", me), both), "B's home feed")
            await until(
                lambda: _same(_ids(b, f"/v1/feed/categories/{tech}"), both), "B's category feed"
            )
            await _ok(await a.http.post(f"/v1/users/{author.id}/mute", headers=me.headers))
            await until(lambda: _same(_ids(b, "/v1/feed", me), []), "B's feed after a mute")
            await until(lambda: _same(_search(b, "narwhal", me), []), "B's search after a mute")
    finally:
        await first.close()
        await second.close()
