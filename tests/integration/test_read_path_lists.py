"""The list reads of P2.1: trending and popular by kind from a periodically recomputed
ranking (staleness bound, fallback, opaque cursors), batch users with their stats in one
statement, ``fields=`` loading only what is asked, and HTTP caching (ETag, 304,
Cache-Control). Each case runs on both database backends, with the in-process cache and
with two tiers over Redis; the ranking job is driven explicitly, never waited for."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from stratabase.auth import service as auth
from stratabase.cache import SmartCache
from stratabase.enums import UserStatus
from stratabase.feeds import rankings
from stratabase.jobs.queue import ClaimedJob
from stratabase.jobs.registry import TaskContext, builtin_registry
from stratabase.jobs.resources import default_resources
from stratabase.jobs.tasks.rankings import TASK, refresh
from stratabase.settings import Settings
from tests.acceptance.api_support import Actor, Api, count_queries

Wired = tuple[Settings, SmartCache]


async def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json() if response.content else {}
    return body


async def _like(api: Api, post_id: int, fans: list[Actor]) -> None:
    for fan in fans:
        await _ok(await api.http.post(f"/v1/posts/{post_id}/like", headers=fan.headers))


async def _ids(api: Api, url: str, actor: Actor | None = None, **params: Any) -> list[int]:
    headers = actor.headers if actor else {}
    page = await _ok(await api.http.get(url, params=params, headers=headers))
    return [item["id"] for item in page["items"]]


def test_the_ranking_job_runs_every_30_seconds() -> None:
    periodic = {p.name: p for p in builtin_registry().periodic()}
    assert periodic["rankings.refresh"].every == rankings.REFRESH_SECONDS == 30
    assert rankings.MAX_AGE == 45


async def test_the_ranking_task_stores_every_ranking_in_the_workers_cache(
    api: Api, wired: Wired
) -> None:
    settings, cache = wired
    post = await api.post(await api.user(), kind="video")
    job = ClaimedJob(1, "maintenance", TASK, {}, 1, 1)
    assert await refresh(TaskContext(api.db, settings, job, default_resources(api.db)), {}) == {
        "rankings": 0
    }  # no cache: nowhere to store, requests compute their own
    context = TaskContext(api.db, settings, job, default_resources(api.db, cache=cache))
    result = await refresh(context, {})
    assert result == {"rankings": len(list(rankings.precomputed()))}
    stored = await cache.get(rankings.ranking_key(None, rankings.PostKind.VIDEO))
    assert stored["entries"][0][0] == post["id"]


async def test_trending_and_popular_by_kind_only_that_kind_in_ranking_order(
    api: Api, wired: Wired
) -> None:
    author = await api.user()
    fans = [await api.user() for _ in range(3)]
    quiet_video = await api.post(author, kind="video", title="quiet video")
    loved_video = await api.post(author, kind="video", title="loved video")
    liked_article = await api.post(author, kind="article", title="liked article")
    await api.post(author, kind="note", title="a note")
    await _like(api, loved_video["id"], fans)
    await _like(api, liked_article["id"], fans[:1])
    assert await rankings.refresh(api.db, wired[1]) == 4 * (1 + len(rankings.POPULAR_WINDOWS)) + 4

    page = await _ok(await api.http.get("/v1/posts/trending", params={"kind": "video"}))
    assert [p["id"] for p in page["items"]] == [loved_video["id"], quiet_video["id"]]
    assert {p["kind"] for p in page["items"]} == {"video"}
    scores = [p["score"] for p in page["items"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[1]

    popular = await _ids(api, "/v1/posts/popular", kind="article")
    assert popular == [liked_article["id"]]
    everything = await _ids(api, "/v1/posts/popular")
    assert everything[:2] == [loved_video["id"], liked_article["id"]] and len(everything) == 4

    # opaque cursors walk the ranking, one kind only
    walk = await _ok(await api.http.get("/v1/posts/trending", params={"kind": "video", "limit": 1}))
    rest = await _ok(
        await api.http.get(
            "/v1/posts/trending", params={"kind": "video", "cursor": walk["next_cursor"]}
        )
    )
    assert [p["id"] for p in walk["items"] + rest["items"]] == [
        loved_video["id"],
        quiet_video["id"],
    ]
    assert not rest["has_more"]
    # a cursor of one kind's list is refused on another's
    other = await api.http.get(
        "/v1/posts/trending", params={"kind": "note", "cursor": walk["next_cursor"]}
    )
    assert other.status_code == 422
    assert (await api.http.get("/v1/posts/trending", params={"kind": "podcast"})).status_code == 422


async def test_ranking_order_lags_at_most_the_bound_and_contents_are_fresh(
    api: Api, wired: Wired
) -> None:
    cache = wired[1]
    author = await api.user()
    fans = [await api.user() for _ in range(3)]
    first = await api.post(author, kind="video", title="first")
    second = await api.post(author, kind="video", title="second")
    await _like(api, first["id"], fans[:1])
    await rankings.refresh(api.db, cache)
    assert await _ids(api, "/v1/posts/popular", kind="video") == [first["id"], second["id"]]

    # the ranking is stored for at most MAX_AGE: never served older than the bound
    ttl = await cache.ttl(rankings.ranking_key(7, rankings.PostKind.VIDEO))
    assert ttl is not None and 0 < ttl <= rankings.MAX_AGE

    await _like(api, second["id"], fans)
    mine = await _ok(
        await api.http.get("/v1/posts/popular", params={"kind": "video"}, headers=fans[0].headers)
    )
    # order: the ranking computed before the likes (within the bound) ...
    assert [p["id"] for p in mine["items"]] == [first["id"], second["id"]]
    # ... but what the page shows is fresh: the liker sees their like and the count at once
    shown = {p["id"]: p for p in mine["items"]}
    assert shown[second["id"]]["stats"]["likes"] == 3 and shown[second["id"]]["liked"] is True

    # the next run of the job (every 30 s) brings the new order to everyone
    await rankings.refresh(api.db, cache)
    assert await _ids(api, "/v1/posts/popular", kind="video") == [second["id"], first["id"]]

    # a post edited or hidden changes (or leaves) the page at once, whatever the ranking
    url = f"/v1/posts/{second['id']}"
    await _ok(await api.http.patch(url, json={"title": "second, edited"}, headers=author.headers))
    page = await _ok(await api.http.get("/v1/posts/popular", params={"kind": "video"}))
    assert page["items"][0]["title"] == "second, edited"
    await _ok(await api.http.post(url + "/archive", headers=author.headers))
    assert await _ids(api, "/v1/posts/popular", kind="video") == [first["id"]]


async def test_a_missing_ranking_is_computed_on_demand_once_stored(api: Api, wired: Wired) -> None:
    cache = wired[1]
    author = await api.user()
    post = await api.post(author, kind="episode", title="an episode")
    key = rankings.ranking_key(None, rankings.PostKind.EPISODE)
    await cache.delete(key)
    assert await _ids(api, "/v1/posts/trending", kind="episode") == [post["id"]]
    stored = await cache.get(key)
    assert stored is not None and stored["entries"][0][0] == post["id"]
    # stored for REFRESH_SECONDS when computed on demand (the job keeps it after that)
    ttl = await cache.ttl(key)
    assert ttl is not None and ttl <= rankings.REFRESH_SECONDS
    # an uncommon window is computed on demand too
    assert await _ids(api, "/v1/posts/popular", kind="episode", days=3) == [post["id"]]


async def test_muted_authors_leave_a_viewers_ranked_pages_at_once(api: Api, wired: Wired) -> None:
    viewer, loud, calm = await api.user(), await api.user(), await api.user()
    noisy = await api.post(loud, kind="note", title="noisy")
    quiet = await api.post(calm, kind="note", title="quiet")
    await rankings.refresh(api.db, wired[1])
    assert sorted(await _ids(api, "/v1/posts/trending", viewer, kind="note")) == sorted(
        [noisy["id"], quiet["id"]]
    )
    await _ok(await api.http.post(f"/v1/users/{loud.id}/mute", headers=viewer.headers))
    assert await _ids(api, "/v1/posts/trending", viewer, kind="note") == [quiet["id"]]
    assert sorted(await _ids(api, "/v1/posts/trending", kind="note")) == sorted(
        [noisy["id"], quiet["id"]]
    )


async def test_batch_users_with_stats_in_one_statement_and_never_stale(
    api: Api, wired: Wired
) -> None:
    users = [await api.user() for _ in range(6)]
    a, b = users[0], users[1]
    await _ok(await api.http.post(f"/v1/users/{a.id}/follow", headers=b.headers))
    post = await api.post(a)
    await _like(api, post["id"], [b, users[2]])
    ids = ",".join(str(u.id) for u in users)

    async def batch(id_list: str) -> tuple[list[dict[str, Any]], int]:
        with api.db.monitor.count() as counter:
            response = await api.http.get("/v1/users", params={"ids": id_list, "include": "stats"})
        page = await _ok(response)
        return page["items"], count_queries(counter.sql)

    items, miss = await batch(ids)
    assert [item["id"] for item in items] == [u.id for u in users]
    profile = await _ok(await api.http.get(f"/v1/users/{a.id}"))
    assert (
        items[0]["stats"]
        == profile["stats"]
        == {
            "followers": 1,
            "following": 0,
            "posts": 1,
            "likes_received": 2,
        }
    )
    assert items[1]["stats"]["following"] == 1
    assert miss == 1  # users and their four counters: one statement
    _, hit = await batch(ids)
    assert hit == 0
    more = [await api.user() for _ in range(20)]
    _, bigger = await batch(",".join(str(u.id) for u in users + more))
    assert bigger == 1  # whatever the number of ids

    # a write that changes a counter shows on the next read (its author's and others')
    await _ok(await api.http.post(f"/v1/users/{a.id}/follow", headers=users[3].headers))
    items, _ = await batch(ids)
    assert items[0]["stats"]["followers"] == 2 and items[3]["stats"]["following"] == 1

    # a deleted account leaves the cached batch at once; the batch stays cached without it
    await auth.set_user_status(api.db, wired[1], users[5].id, UserStatus.DELETED)
    items, _ = await batch(ids)
    assert [item["id"] for item in items] == [u.id for u in users[:5]]
    assert (await batch(ids))[1] == 0
    # an id that names nobody is answered without it, and not stored
    nobody = f"{ids},{10**12}"
    assert [item["id"] for item in (await batch(nobody))[0]] == [u.id for u in users[:5]]
    assert (await batch(nobody))[1] == 1

    # without include, no stats and no counters computed
    plain = await _ok(await api.http.get("/v1/users", params={"ids": ids}))
    assert "stats" not in plain["items"][0]
    bad = await api.http.get("/v1/users", params={"ids": ids, "include": "wallet"})
    assert bad.status_code == 422


async def test_fields_loads_only_what_is_asked(api: Api) -> None:
    author = await api.user()
    tech = await api.category()
    for i in range(3):
        await api.post(author, category_id=tech, tags=[f"t{i}"], title=f"post {i}")

    async def cost(url: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
        with api.db.monitor.count() as counter:
            response = await api.http.get(url, params=params)
        return (await _ok(response))["items"], count_queries(counter.sql)

    full, full_cost = await cost("/v1/posts", author=author.id)
    assert full_cost >= 5 and "tags" in full[0] and "stats" in full[0]
    slim, slim_cost = await cost("/v1/posts", author=author.id, fields="id,title")
    assert slim_cost == 1  # the page alone: no author, category, tags, media or stats query
    assert [set(item) for item in slim] == [{"id", "title"}] * 3
    assert [item["title"] for item in slim] == [item["title"] for item in full]
    with_author, author_cost = await cost("/v1/posts", author=author.id, fields="title,author")
    assert author_cost == 2 and with_author[0]["author"]["id"] == author.id
    by_ids = ",".join(str(item["id"]) for item in full)
    _, ids_cost = await cost("/v1/posts", ids=by_ids, fields="id,stats")
    assert ids_cost == 2

    users, users_cost = await cost("/v1/users", ids=str(author.id), fields="username")
    assert users == [{"id": author.id, "username": author.username}] and users_cost == 1
    paged, _ = await cost("/v1/users", search=author.username, fields="username")
    assert paged == [{"id": author.id, "username": author.username}]

    # a cached feed page with fields naming no fresh part costs no statement at all
    await cost(f"/v1/feed/categories/{tech}")
    _, cached = await cost(f"/v1/feed/categories/{tech}", fields="id,title")
    assert cached == 0
    assert (await api.http.get("/v1/posts", params={"fields": "id,nope"})).status_code == 422


async def test_etag_304_and_cache_control(api: Api) -> None:
    author = await api.user()
    tech = await api.category()
    await api.post(author, category_id=tech)
    url = f"/v1/feed/categories/{tech}"
    first = await api.http.get(url)
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, max-age=5, stale-while-revalidate=30"
    again = await api.http.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    # a changed resource never answers 304
    await api.post(author, category_id=tech, title="new")
    changed = await api.http.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["items"][0]["title"] == "new"
    # signed-in answers are never kept by shared caches
    mine = await api.http.get(url, headers=author.headers)
    assert mine.status_code == 200 and mine.headers["cache-control"] == "no-store"
    for path in (f"/v1/users/{author.id}", "/v1/posts/trending", f"/v1/users?ids={author.id}"):
        response = await api.http.get(path)
        assert response.status_code == 200 and response.headers["etag"].startswith('"')
        assert (
            await api.http.get(path, headers={"If-None-Match": response.headers["etag"]})
        ).status_code == 304


async def test_comment_tree_and_profile_caches_follow_their_writes(api: Api) -> None:
    author, fan = await api.user(), await api.user()
    post = await api.post(author)
    url = f"/v1/posts/{post['id']}/comments"
    top = await api.comment(author, post["id"], "first")
    assert [c["id"] for c in (await _ok(await api.http.get(url)))["items"]] == [top["id"]]
    reply = await api.comment(fan, post["id"], "a reply", parent_id=top["id"])
    await _ok(await api.http.post(f"/v1/comments/{top['id']}/like", headers=fan.headers))
    tree = (await _ok(await api.http.get(url, headers=fan.headers)))["items"]
    assert tree[0]["like_count"] == 1 and tree[0]["liked"] is True
    assert [r["id"] for r in tree[0]["replies"]] == [reply["id"]]
    anonymous = (await _ok(await api.http.get(url)))["items"]
    assert anonymous[0]["like_count"] == 1 and anonymous[0]["liked"] is False

    before = (await _ok(await api.http.get(f"/v1/users/{author.id}")))["stats"]
    await _ok(await api.http.post(f"/v1/users/{author.id}/follow", headers=fan.headers))
    await api.post(author, title="another")
    after = (await _ok(await api.http.get(f"/v1/users/{author.id}")))["stats"]
    assert after["followers"] == before["followers"] + 1
    assert after["posts"] == before["posts"] + 1


async def test_a_missing_ranking_is_computed_once_under_concurrent_requests(
    api: Api, wired: Wired
) -> None:
    author = await api.user()
    posts = [await api.post(author, kind="article", title=f"article {i}") for i in range(3)]
    await wired[1].delete(rankings.ranking_key(None, rankings.PostKind.ARTICLE))
    with api.db.monitor.count() as counter:
        pages = await asyncio.gather(
            *(api.http.get("/v1/posts/trending", params={"kind": "article"}) for _ in range(12))
        )
    assert {tuple(p["id"] for p in (await _ok(page))["items"]) for page in pages} == {
        tuple(p["id"] for p in reversed(posts))
    }
    computed = [sql for sql in counter.sql if "published_at >=" in sql]
    assert len(computed) == 1
