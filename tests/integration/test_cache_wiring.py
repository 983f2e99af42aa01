"""The API's reads go through the cache and its writes invalidate it: a read after a
committed write never returns the old value, on the in-process cache and on two tiers over
Redis, and a hit costs fewer statements than a miss."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth import service as auth
from stratabase.cache import SmartCache, build_cache, invalidate_tags_after_commit
from stratabase.cache.errors import CacheUnavailable
from stratabase.content.reads import TAG_CATEGORIES
from stratabase.content.warming import warm_hot_keys
from stratabase.db.session import Database
from stratabase.enums import Role, UserStatus
from stratabase.exceptions import InvalidInput
from stratabase.models import Category
from stratabase.settings import Settings
from tests.acceptance.api_support import Api, assert_problem, count_queries
from tests.integration.cache_wiring_support import serve


async def _get(
    api: Api, url: str, headers: dict[str, str] | None = None
) -> tuple[httpx.Response, int]:
    with api.db.monitor.count() as counter:
        response = await api.http.get(url, headers=headers or {})
    return response, count_queries(counter.sql)


async def test_post_page_hit_is_cheaper_and_edits_likes_comments_show_at_once(api: Api) -> None:
    author, reader = await api.user(), await api.user()
    post = await api.post(author, title="First title", tags=["a"])
    url = f"/v1/posts/{post['id']}"

    miss, miss_cost = await _get(api, url)
    hit, hit_cost = await _get(api, url)
    assert miss.status_code == hit.status_code == 200
    assert hit.json() == miss.json()
    assert hit_cost == 0 < miss_cost  # body and counters both come from the cache

    edited = await api.http.patch(url, json={"title": "Second title"}, headers=author.headers)
    assert edited.status_code == 200
    assert (await api.http.get(url)).json()["title"] == "Second title"

    assert (await api.http.post(url + "/like", headers=reader.headers)).status_code == 200
    mine = (await api.http.get(url, headers=reader.headers)).json()
    assert (mine["stats"]["likes"], mine["liked"]) == (1, True)
    theirs = (await api.http.get(url, headers=author.headers)).json()
    assert (theirs["stats"]["likes"], theirs["liked"]) == (1, False)
    assert (await api.http.get(url)).json()["liked"] is None

    await api.comment(reader, post["id"], "nice")
    assert (await api.http.get(url)).json()["stats"]["comments"] == 1
    await api.http.post(url + "/views", headers=reader.headers)
    mine = (await api.http.get(url, headers=reader.headers)).json()
    assert mine["stats"]["views"] == 1  # anonymous readers: within counters.BOUND

    await api.http.post(url + "/archive", headers=author.headers)
    assert (await api.http.get(url)).json()["status"] == "archived"
    assert (await api.http.delete(url, headers=author.headers)).status_code == 204
    assert_problem(await api.http.get(url), 404)


async def test_drafts_and_hidden_posts_stay_private_when_cached(api: Api) -> None:
    author, stranger = await api.user(), await api.user()
    moderator = await api.user(role=Role.MODERATOR)
    draft = await api.post(author, status="draft")
    url = f"/v1/posts/{draft['id']}"
    assert (await api.http.get(url, headers=author.headers)).status_code == 200  # fills
    assert_problem(await api.http.get(url), 404)
    assert_problem(await api.http.get(url, headers=stranger.headers), 404)

    assert (await api.http.post(url + "/publish", headers=author.headers)).status_code == 200
    assert (await api.http.get(url)).json()["status"] == "published"
    assert (await api.http.post(url + "/hide", headers=moderator.headers)).status_code == 200
    assert_problem(await api.http.get(url, headers=stranger.headers), 404)
    assert (await api.http.get(url, headers=moderator.headers)).status_code == 200


async def test_profile_counters_follow_posts_and_likes(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    url = f"/v1/users/{bob.id}"

    async def stats(user_url: str = url) -> dict[str, int]:
        response = await api.http.get(user_url)
        assert response.status_code == 200, response.text
        return response.json()["stats"]  # type: ignore[no-any-return]

    assert await stats() == {"followers": 0, "following": 0, "posts": 0, "likes_received": 0}
    _, miss_cost = await _get(api, f"/v1/users/{alice.id}")
    _, hit_cost = await _get(api, f"/v1/users/{alice.id}")
    assert hit_cost == 0 < miss_cost

    await api.http.post(f"/v1/users/{bob.id}/follow", headers=alice.headers)
    assert (await stats())["followers"] == 1
    assert (await stats(f"/v1/users/{alice.id}"))["following"] == 1
    post = await api.post(bob)
    assert (await stats())["posts"] == 1
    await api.http.post(f"/v1/posts/{post['id']}/like", headers=alice.headers)
    assert (await stats())["likes_received"] == 1
    await api.http.delete(f"/v1/posts/{post['id']}/like", headers=alice.headers)
    assert (await stats())["likes_received"] == 0
    await api.http.post(f"/v1/users/{alice.id}/block", headers=bob.headers)  # ends the follow
    assert (await stats())["followers"] == 0
    assert (await stats(f"/v1/users/{alice.id}"))["following"] == 0


async def test_logout_logout_all_and_suspension_act_on_the_next_request(
    api: Api, wired: tuple[Settings, SmartCache]
) -> None:
    cache = wired[1]
    user = await api.user()
    assert (await api.http.get("/v1/me", headers=user.headers)).status_code == 200
    me, cost = await _get(api, "/v1/me", user.headers)
    assert me.status_code == 200
    assert cost == 1  # the account row only: the session lookup was a hit

    assert (await api.http.post("/v1/auth/logout", headers=user.headers)).status_code == 204
    assert_problem(await api.http.get("/v1/me", headers=user.headers), 401)

    other = await auth.open_session(api.db, user.id, auth.ClientInfo(device="b"))
    third = await auth.open_session(api.db, user.id, auth.ClientInfo(device="c"))
    headers = [{"Authorization": f"Bearer {s.token}"} for s in (other, third)]
    for h in headers:
        assert (await api.http.get("/v1/me", headers=h)).status_code == 200
    out = await api.http.post("/v1/auth/logout-all", headers=headers[0])
    assert out.json()["revoked"] == 2
    for h in headers:
        assert_problem(await api.http.get("/v1/me", headers=h), 401)

    writer = await api.user()
    assert (await api.http.get("/v1/me", headers=writer.headers)).json()["status"] == "active"
    await auth.set_user_status(api.db, cache, writer.id, UserStatus.SUSPENDED)
    refused = await api.http.post(
        "/v1/posts", json={"kind": "note", "title": "x"}, headers=writer.headers
    )
    assert_problem(refused, 403)
    await auth.set_user_status(api.db, cache, writer.id, UserStatus.ACTIVE)
    allowed = await api.http.post(
        "/v1/posts", json={"kind": "note", "title": "x"}, headers=writer.headers
    )
    assert allowed.status_code == 201
    await auth.set_user_status(api.db, cache, writer.id, UserStatus.DELETED)
    assert_problem(await api.http.get("/v1/me", headers=writer.headers), 401)
    assert_problem(await api.http.get(f"/v1/users/{writer.id}"), 404)


async def test_set_user_status_refuses_unknown_users_and_statuses(
    api: Api, wired: tuple[Settings, SmartCache]
) -> None:
    with pytest.raises(InvalidInput):
        await auth.set_user_status(api.db, wired[1], 1, "frozen")  # type: ignore[arg-type]
    assert_problem(await api.http.get("/v1/users/987654"), 404)
    with pytest.raises(Exception, match="does not exist"):
        await auth.set_user_status(api.db, wired[1], 987654, UserStatus.SUSPENDED)


async def test_categories_are_cached_until_their_tag_is_invalidated(
    api: Api, wired: tuple[Settings, SmartCache]
) -> None:
    await api.category("Tech")
    first, miss_cost = await _get(api, "/v1/categories")
    again, hit_cost = await _get(api, "/v1/categories")
    assert again.json() == first.json()
    assert hit_cost == 0 < miss_cost

    async def add(session: AsyncSession) -> None:
        session.add(Category(theme="tech", name="Science", slug="science-wired"))
        invalidate_tags_after_commit(session, wired[1], [TAG_CATEGORIES])

    await api.db.transaction(add)
    names = [c["name"] for c in (await api.http.get("/v1/categories")).json()["items"]]
    assert names == ["Tech", "Science"]
    page = (await api.http.get("/v1/categories", params={"limit": 1})).json()
    rest = await api.http.get("/v1/categories", params={"limit": 1, "cursor": page["next_cursor"]})
    assert [c["name"] for c in page["items"] + rest.json()["items"]] == names


async def test_health_reports_the_cache_and_cache_outages_are_503(api: Api) -> None:
    body = (await api.http.get("/health")).json()
    assert body["checks"]["cache"]["status"] == "ok"
    assert body["status"] == "ok"

    app = api.http._transport.app  # type: ignore[attr-defined]

    async def broken() -> None:
        raise CacheUnavailable("redis did not answer")

    app.add_api_route("/broken-cache", broken)
    assert "redis" in assert_problem(await api.http.get("/broken-cache"), 503)["detail"]


async def test_health_is_degraded_while_the_cache_cannot_reach_redis(
    settings: Settings, db: Database
) -> None:
    away = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    cache = build_cache(away)
    try:
        async with serve(away, db, cache) as api:
            body = (await api.http.get("/health")).json()
    finally:
        await cache.close()
    assert body["status"] == "degraded"
    assert body["checks"]["cache"]["status"] == "degraded"


async def test_warm_hot_keys_fills_what_the_first_requests_read(
    api: Api, wired: tuple[Settings, SmartCache]
) -> None:
    author = await api.user()
    await api.category("Tech")
    published = [await api.post(author, title=f"p{i}") for i in range(3)]
    draft = await api.post(author, status="draft")
    await wired[1].clear()

    assert await warm_hot_keys(api.db, wired[1], posts=10) == 1 + len(published)
    for post in published:
        response, cost = await _get(api, f"/v1/posts/{post['id']}")
        assert response.status_code == 200
        assert cost == 1  # stats only: the body was warmed
    _, draft_cost = await _get(api, f"/v1/posts/{draft['id']}", author.headers)
    assert draft_cost > 2  # drafts are not warmed
    _, categories_cost = await _get(api, "/v1/categories")
    assert categories_cost == 0


async def test_comment_trees_show_new_edited_deleted_and_liked_comments_at_once(
    api: Api,
) -> None:
    author, reader = await api.user(), await api.user()
    post = await api.post(author)
    url = f"/v1/posts/{post['id']}/comments"
    top = await api.comment(author, post["id"], "first")

    async def tree(headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
        response = await api.http.get(url, headers=headers or {})
        assert response.status_code == 200, response.text
        return response.json()["items"]  # type: ignore[no-any-return]

    _, miss_cost = await _get(api, url)
    _, hit_cost = await _get(api, url)
    assert hit_cost == 0 < miss_cost  # anonymous: nothing per viewer to read

    reply = await api.comment(reader, post["id"], "a reply", parent_id=top["id"])
    assert [r["body"] for r in (await tree())[0]["replies"]] == ["a reply"]
    edited = await api.http.patch(
        f"/v1/comments/{reply['id']}", json={"body": "edited"}, headers=reader.headers
    )
    assert edited.status_code == 200, edited.text
    assert (await tree())[0]["replies"][0]["body"] == "edited"

    await api.http.post(f"/v1/comments/{top['id']}/like", headers=reader.headers)
    mine, theirs = (await tree(reader.headers))[0], (await tree(author.headers))[0]
    assert (mine["like_count"], mine["liked"], theirs["liked"]) == (1, True, False)

    await api.http.delete(f"/v1/comments/{reply['id']}", headers=reader.headers)
    assert (await tree())[0]["replies"][0]["deleted"] is True

    second = await api.comment(reader, post["id"], "second")
    page = (await api.http.get(url, params={"limit": 1})).json()
    rest = (await api.http.get(url, params={"limit": 1, "cursor": page["next_cursor"]})).json()
    assert [c["id"] for c in page["items"] + rest["items"]] == [top["id"], second["id"]]

    await api.http.post(
        f"/v1/posts/{post['id']}/hide", headers=(await api.user(role=Role.MODERATOR)).headers
    )
    assert_problem(await api.http.get(url), 404)
    assert (await api.http.get(url, headers=author.headers)).status_code == 200


async def test_reads_racing_an_edit_never_leave_the_old_page_cached(api: Api) -> None:
    author = await api.user()
    post = await api.post(author, title="v0")
    url = f"/v1/posts/{post['id']}"
    for version in range(1, 4):

        async def edit(title: str = f"v{version}") -> None:
            response = await api.http.patch(url, json={"title": title}, headers=author.headers)
            assert response.status_code == 200

        readers = [api.http.get(url) for _ in range(12)]
        await asyncio.gather(*readers[:6], edit(), *readers[6:])
        after = await asyncio.gather(*(api.http.get(url) for _ in range(4)))
        assert {r.json()["title"] for r in after} == {f"v{version}"}
