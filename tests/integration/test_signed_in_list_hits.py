"""Statements a warm signed-in list read still costs: none for a comment tree (the viewer's
likes are cached per page under the tree's tag), one for the home feed (exact counters and
the viewer's likes together), and the viewer's own writes still show on their next read.
Each case runs on both database backends, with the in-process cache and with two tiers."""

from __future__ import annotations

from typing import Any

import httpx

from tests.acceptance.api_support import Actor, Api, count_queries


async def _costed(api: Api, url: str, actor: Actor) -> tuple[dict[str, Any], int]:
    with api.db.monitor.count() as counter:
        response = await api.http.get(url, headers=actor.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body, count_queries(counter.sql)


async def _ok(response: httpx.Response) -> None:
    assert response.status_code in (200, 201, 204), response.text


async def test_a_warm_signed_in_comment_tree_costs_no_statement(api: Api) -> None:
    author, reader = await api.user(), await api.user()
    post = await api.post(author)
    top = await api.comment(author, post["id"], "first")
    await api.comment(reader, post["id"], "a reply", parent_id=top["id"])
    url = f"/v1/posts/{post['id']}/comments?depth=3"
    await _costed(api, url, reader)  # session, post body, tree and likes cached
    tree, cost = await _costed(api, url, reader)
    assert cost == 0
    assert tree["items"][0]["liked"] is False

    await _ok(await api.http.post(f"/v1/comments/{top['id']}/like", headers=reader.headers))
    tree, _ = await _costed(api, url, reader)
    assert tree["items"][0]["liked"] is True and tree["items"][0]["like_count"] == 1
    other, _ = await _costed(api, url, author)  # another viewer's likes are their own
    assert other["items"][0]["liked"] is False and other["items"][0]["like_count"] == 1
    await _ok(await api.http.delete(f"/v1/comments/{top['id']}/like", headers=reader.headers))
    tree, _ = await _costed(api, url, reader)
    assert tree["items"][0]["liked"] is False and tree["items"][0]["like_count"] == 0


async def test_a_warm_home_feed_costs_one_statement_and_shows_the_viewers_own_writes(
    api: Api,
) -> None:
    author, reader = await api.user(), await api.user()
    await _ok(await api.http.post(f"/v1/users/{author.id}/follow", headers=reader.headers))
    older = await api.post(author, title="older")
    newer = await api.post(author, title="newer")
    await _costed(api, "/v1/feed", reader)
    page, cost = await _costed(api, "/v1/feed", reader)
    assert cost == 1
    assert [i["id"] for i in page["items"]] == [newer["id"], older["id"]]
    assert [i["liked"] for i in page["items"]] == [False, False]

    await _ok(await api.http.post(f"/v1/posts/{older['id']}/like", headers=reader.headers))
    await _ok(await api.http.post(f"/v1/posts/{older['id']}/views", headers=reader.headers))
    page, _ = await _costed(api, "/v1/feed", reader)
    mine = page["items"][1]
    assert mine["liked"] is True
    assert mine["stats"]["likes"] == 1 and mine["stats"]["views"] == 1
    assert page["items"][0]["stats"]["likes"] == 0
