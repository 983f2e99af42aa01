"""Anonymous list answers kept whole and served below the framework (category feed,
popular, trending, comment tree, profile): the fast path answers exactly what the route
would (body, headers, ETag/304), every write that changes an answer shows on the next read
and never answers 304, a kept answer is never kept longer than the counters' bound, and any
request that is not a plain anonymous GET goes to the full application. Each case runs on
both database backends, with the in-process cache and with two tiers over Redis."""

from __future__ import annotations

from typing import Any

import httpx

from stratabase.api.app import create_app
from stratabase.api.responses import answer_key
from stratabase.cache import SmartCache
from stratabase.content import counters
from stratabase.feeds import rankings
from stratabase.settings import Settings
from tests.acceptance.api_support import NO_LIMITS, Actor, Api, count_queries
from tests.acceptance.test_post_page_fast_path import behind_refusal

Wired = tuple[Settings, SmartCache]

_COMPARED = ("etag", "cache-control", "vary", "content-type", "content-length")


async def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201, 204), response.text
    body: dict[str, Any] = response.json() if response.content else {}
    return body


async def _world(api: Api, wired: Wired) -> dict[str, Any]:
    """A category with two posts (one a video), a comment thread, likes, and the rankings
    computed: every kept kind of answer has something to show."""
    author, fan = await api.user(), await api.user()
    category = await api.category()
    video = await api.post(author, kind="video", title="a video", category_id=category)
    article = await api.post(author, title="an article", category_id=category)
    await api.comment(fan, article["id"], "first")
    await _ok(await api.http.post(f"/v1/posts/{video['id']}/like", headers=fan.headers))
    await rankings.refresh(api.db, wired[1])
    return {"author": author, "fan": fan, "category": category, "video": video, "post": article}


def _urls(world: dict[str, Any]) -> list[str]:
    return [
        f"/v1/feed/categories/{world['category']}?limit=10",
        "/v1/posts/trending?kind=video",
        "/v1/posts/popular",
        f"/v1/posts/{world['post']['id']}/comments?depth=2",
        f"/v1/users/{world['author'].id}",
        "/v1/search?q=article",
        f"/v1/search?q={world['author'].username}&type=users",
        f"/v1/users?ids={world['author'].id},{world['fan'].id}&include=stats",
    ]


def _behind_refusal(wired: Wired, api: Api) -> Any:
    """A client whose requests reach the fast path over a stand-in for the framework."""
    return behind_refusal(
        create_app(wired[0], database=api.db, cache=wired[1], rate_limits=NO_LIMITS)
    )


async def test_kept_answers_are_the_route_answers_at_no_statement(api: Api, wired: Wired) -> None:
    world = await _world(api, wired)
    for url in _urls(world):
        first = await api.http.get(url)  # the route answers and keeps it
        assert first.status_code == 200, (url, first.text)
        assert first.json().get("items", [1]), url
        with api.db.monitor.count() as counter:
            kept = await api.http.get(url)
        assert count_queries(counter.sql) == 0, (url, counter.sql)
        # An Origin header sends the request through the whole application.
        full = await api.http.get(url, headers={"Origin": "http://elsewhere.test"})
        assert kept.content == first.content == full.content, url
        for name in _COMPARED:
            assert kept.headers.get(name) == full.headers.get(name), (url, name)
        assert kept.headers["cache-control"].startswith("public")
    async with _behind_refusal(wired, api) as (http, inner):
        for url in _urls(world):
            kept = await http.get(url)
            assert kept.status_code == 200, url
            again = await http.get(url, headers={"If-None-Match": kept.headers["etag"]})
            assert again.status_code == 304, url
        assert inner.calls == 0


async def test_a_kept_answer_lives_no_longer_than_the_counters_bound(
    api: Api, wired: Wired
) -> None:
    world = await _world(api, wired)
    for url in [*_urls(world)[:3], "/v1/search?q=article"]:  # pages of posts: their views
        await _ok(await api.http.get(url))
        path, _, query = url.partition("?")
        left = await wired[1].ttl(answer_key(path, query.encode()))
        assert left is not None and 0 < left <= counters.BOUND, url


async def test_every_write_shows_on_the_next_read_and_never_answers_304(
    api: Api, wired: Wired
) -> None:
    world = await _world(api, wired)
    author, fan, post = world["author"], world["fan"], world["post"]
    feed = f"/v1/feed/categories/{world['category']}?limit=10"
    tree = f"/v1/posts/{post['id']}/comments?depth=2"
    profile = f"/v1/users/{author.id}"
    popular = "/v1/posts/popular"
    search = "/v1/search?q=article"

    async def tagged(url: str) -> tuple[dict[str, Any], str]:
        await api.http.get(url)  # kept (if not already)
        answer = await api.http.get(url)
        return await _ok(answer), answer.headers["etag"]

    async def changed(url: str, etag: str) -> dict[str, Any]:
        answer = await api.http.get(url, headers={"If-None-Match": etag})
        assert answer.status_code == 200, (url, answer.status_code)
        assert answer.headers["etag"] != etag, url
        return await _ok(answer)

    def likes(page: dict[str, Any], post_id: int) -> int:
        return next(i["stats"]["likes"] for i in page["items"] if i["id"] == post_id)

    # A like: the feed's and popular's counters.
    before, feed_tag = await tagged(feed)
    _, popular_tag = await tagged(popular)
    await _ok(await api.http.post(f"/v1/posts/{post['id']}/like", headers=fan.headers))
    assert likes(await changed(feed, feed_tag), post["id"]) == likes(before, post["id"]) + 1
    assert likes(await changed(popular, popular_tag), post["id"]) == 1

    # An edit of a post in the category: its title.
    _, feed_tag = await tagged(feed)
    await tagged(search)
    edited = await api.http.patch(
        f"/v1/posts/{post['id']}", json={"title": "Edited"}, headers=author.headers
    )
    assert edited.status_code == 200, edited.text
    titles = [i["title"] for i in (await changed(feed, feed_tag))["items"]]
    assert "Edited" in titles
    assert (await _ok(await api.http.get(search)))["items"] == []  # "article" is gone

    # A new post in the category (tag of the category).
    _, feed_tag = await tagged(feed)
    await api.post(author, title="newest", category_id=world["category"])
    assert (await changed(feed, feed_tag))["items"][0]["title"] == "newest"

    # A reply: the comment tree.
    _, tree_tag = await tagged(tree)
    await api.comment(fan, post["id"], "second")
    bodies = [c["body"] for c in (await changed(tree, tree_tag))["items"]]
    assert bodies == ["first", "second"]

    # A follow: the profile's counters.
    before, profile_tag = await tagged(profile)
    batch = f"/v1/users?ids={author.id},{fan.id}&include=stats"
    _, batch_tag = await tagged(batch)
    await _ok(await api.http.post(f"/v1/users/{author.id}/follow", headers=fan.headers))
    after = await changed(profile, profile_tag)
    assert after["stats"]["followers"] == before["stats"]["followers"] + 1
    cards = (await changed(batch, batch_tag))["items"]
    assert [c["stats"]["following"] for c in cards] == [0, 1]

    # The post unpublished: gone from the feed, its comment tree answers 404.
    _, feed_tag = await tagged(feed)
    await _ok(await api.http.delete(f"/v1/posts/{post['id']}", headers=author.headers))
    assert post["id"] not in [i["id"] for i in (await changed(feed, feed_tag))["items"]]
    assert (await api.http.get(tree)).status_code == 404


async def test_what_is_not_a_plain_anonymous_get_goes_to_the_application(
    api: Api, wired: Wired
) -> None:
    world = await _world(api, wired)
    reader: Actor = world["fan"]
    for url in _urls(world):
        await _ok(await api.http.get(url))  # kept
    async with _behind_refusal(wired, api) as (http, inner):
        url = _urls(world)[0]
        passed_on = [
            await http.get(url, headers=reader.headers),  # signed in
            await http.get(url, headers={"Origin": "http://elsewhere.test"}),  # CORS
            await http.head(url),
            await http.post(url),
            await http.get(url + "&cursor=x"),  # not kept: the route decides (400)
            await http.get("/v1/feed/categories/0"),  # not an id the route accepts
            await http.get(f"/v1/users/{reader.id}/followers"),  # not a kept kind
        ]
        assert [r.status_code for r in passed_on] == [418] * len(passed_on)
        assert inner.calls == len(passed_on)


async def test_signed_in_answers_are_never_kept_for_anonymous_readers(
    api: Api, wired: Wired
) -> None:
    world = await _world(api, wired)
    fan: Actor = world["fan"]
    url = "/v1/posts/popular"
    signed_in = await _ok(await api.http.get(url, headers=fan.headers))
    assert {i["liked"] for i in signed_in["items"]} >= {True}
    assert await wired[1].get(answer_key("/v1/posts/popular", b"")) is None
    anonymous = await _ok(await api.http.get(url))
    assert {i["liked"] for i in anonymous["items"]} == {None}
