"""Follows, blocks, mutes, profiles, follower lists and feeds over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from stratabase.db.session import Database
from stratabase.settings import Settings
from tests.acceptance.api_support import Api, assert_problem, count_queries, make_api


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for api in make_api(settings, db):
        yield api


async def test_follow_relationship_and_profile_stats(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    followed = await api.http.post(f"/v1/users/{bob.id}/follow", headers=alice.headers)
    assert followed.status_code == 200 and followed.json()["following"] is True
    again = await api.http.post(f"/v1/users/{bob.id}/follow", headers=alice.headers)
    assert again.status_code == 200
    seen_by_bob = (
        await api.http.get(f"/v1/users/{alice.id}/relationship", headers=bob.headers)
    ).json()
    assert seen_by_bob == {**seen_by_bob, "following": False, "followed_by": True}
    await api.post(bob)
    await api.post(bob, status="draft")
    profile = (await api.http.get(f"/v1/users/{bob.id}")).json()
    assert profile["stats"] == {"followers": 1, "following": 0, "posts": 1, "likes_received": 0}
    unfollowed = await api.http.delete(f"/v1/users/{bob.id}/follow", headers=alice.headers)
    assert unfollowed.json()["following"] is False
    assert_problem(await api.http.post(f"/v1/users/{alice.id}/follow", headers=alice.headers), 422)
    assert_problem(await api.http.post("/v1/users/999999/follow", headers=alice.headers), 404)
    assert_problem(await api.http.get(f"/v1/users/{bob.id}/relationship"), 401)
    assert_problem(await api.http.get("/v1/users/0"), 422)


async def test_block_removes_follows_and_prevents_new_ones(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    await api.http.post(f"/v1/users/{alice.id}/follow", headers=bob.headers)
    await api.http.post(f"/v1/users/{bob.id}/follow", headers=alice.headers)
    blocked = (await api.http.post(f"/v1/users/{bob.id}/block", headers=alice.headers)).json()
    assert blocked == {**blocked, "blocking": True, "following": False, "followed_by": False}
    assert_problem(await api.http.post(f"/v1/users/{alice.id}/follow", headers=bob.headers), 403)
    assert_problem(await api.http.post(f"/v1/users/{bob.id}/follow", headers=alice.headers), 403)
    await api.http.delete(f"/v1/users/{bob.id}/block", headers=alice.headers)
    ok = await api.http.post(f"/v1/users/{alice.id}/follow", headers=bob.headers)
    assert ok.status_code == 200


async def test_follower_lists_walk_every_row_once(api: Api) -> None:
    star = await api.user()
    fans = [await api.user() for _ in range(7)]
    for fan in fans:
        await api.http.post(f"/v1/users/{star.id}/follow", headers=fan.headers)
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await api.http.get(f"/v1/users/{star.id}/followers", params=params)).json()
        seen += [u["id"] for u in page["items"]]
        late = await api.user()
        await api.http.post(f"/v1/users/{star.id}/follow", headers=late.headers)
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f.id for f in reversed(fans)]
    following = (await api.http.get(f"/v1/users/{fans[0].id}/following")).json()
    assert [u["id"] for u in following["items"]] == [star.id]


async def test_user_search_and_batch(api: Api) -> None:
    users = [await api.user() for _ in range(3)]
    by_prefix = (await api.http.get("/v1/users", params={"search": users[1].username})).json()
    assert [u["id"] for u in by_prefix["items"]] == [users[1].id]
    batch = (await api.http.get("/v1/users", params={"ids": f"{users[2].id},{users[0].id}"})).json()
    assert [u["id"] for u in batch["items"]] == [users[2].id, users[0].id]
    odd = await api.http.get("/v1/users", params={"search": "%_\\"})
    assert odd.status_code == 200 and odd.json()["items"] == []
    slim = (await api.http.get("/v1/users", params={"fields": "username"})).json()
    assert set(slim["items"][0]) == {"id", "username"}


async def test_home_feed_has_followed_authors_without_muted_or_blocked(api: Api) -> None:
    me, liked, muted, blocker, stranger = [await api.user() for _ in range(5)]
    for author in (liked, muted, blocker):
        await api.http.post(f"/v1/users/{author.id}/follow", headers=me.headers)
    wanted = [(await api.post(liked, title=f"l{i}"))["id"] for i in range(3)]
    await api.post(muted)
    await api.post(blocker)
    await api.post(stranger)
    await api.post(liked, status="draft")
    await api.http.post(f"/v1/users/{muted.id}/mute", headers=me.headers)
    await api.http.post(f"/v1/users/{me.id}/block", headers=blocker.headers)
    feed = (await api.http.get("/v1/feed", headers=me.headers)).json()
    assert [p["id"] for p in feed["items"]] == list(reversed(wanted))
    assert_problem(await api.http.get("/v1/feed"), 401)


async def test_category_feed_hides_muted_authors(api: Api) -> None:
    me, a, b = [await api.user() for _ in range(3)]
    tech = await api.category()
    pa = await api.post(a, category_id=tech)
    await api.post(b, category_id=tech)
    await api.post(a)
    await api.http.post(f"/v1/users/{b.id}/mute", headers=me.headers)
    mine = (await api.http.get(f"/v1/feed/categories/{tech}", headers=me.headers)).json()
    assert [p["id"] for p in mine["items"]] == [pa["id"]]
    anonymous = (await api.http.get(f"/v1/feed/categories/{tech}")).json()
    assert len(anonymous["items"]) == 2
    assert_problem(await api.http.get("/v1/feed/categories/999999"), 404)


async def test_feed_walk_and_constant_statements(api: Api, db: Database) -> None:
    me = await api.user()
    authors = [await api.user() for _ in range(4)]
    for author in authors:
        await api.http.post(f"/v1/users/{author.id}/follow", headers=me.headers)
    tech = await api.category()

    async def cost() -> int:
        with db.monitor.count() as counter:
            response = await api.http.get("/v1/feed", params={"limit": 100}, headers=me.headers)
        assert response.status_code == 200
        return count_queries(counter.sql)

    await api.post(authors[0], category_id=tech, tags=["x"])
    await cost()  # the followed authors are cached from now on
    await api.post(authors[1], category_id=tech, tags=["y"])
    small = await cost()
    made = [
        (await api.post(authors[i % 4], category_id=tech, tags=[f"t{i}"]))["id"] for i in range(15)
    ]
    assert small == await cost() <= 8
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await api.http.get("/v1/feed", params=params, headers=me.headers)).json()
        seen += [p["id"] for p in page["items"]]
        await api.post(authors[1])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen[: len(made)] == list(reversed(made))
    assert len(seen) == len(set(seen)) == len(made) + 2


async def test_categories_and_tags_lists(api: Api) -> None:
    author = await api.user()
    ids = [await api.category(name) for name in ("One", "Two", "Three")]
    await api.post(author, tags=["Zeta", "Alpha"])
    first = (await api.http.get("/v1/categories", params={"limit": 2})).json()
    rest = (await api.http.get("/v1/categories", params={"cursor": first["next_cursor"]})).json()
    assert [c["id"] for c in first["items"] + rest["items"]] == ids
    tags = (await api.http.get("/v1/tags", params={"fields": "slug"})).json()
    assert sorted(t["slug"] for t in tags["items"]) == ["alpha", "zeta"]
