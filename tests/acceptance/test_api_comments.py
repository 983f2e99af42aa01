"""Comment trees over HTTP: nesting, depth limits, soft deletes, authz, blocks, likes,
and a statement count independent of the number of comments."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from stratabase.db.session import Database
from stratabase.enums import Role
from stratabase.settings import Settings
from tests.acceptance.api_support import Api, assert_problem, count_queries, make_api


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for api in make_api(settings, db):
        yield api


def _ids(nodes: list[dict[str, Any]]) -> list[Any]:
    return [[n["id"], _ids(n["replies"])] for n in nodes]


async def test_tree_nests_replies_and_limits_depth(api: Api) -> None:
    author, reader = await api.user(), await api.user()
    post = (await api.post(author))["id"]
    top1 = await api.comment(reader, post, "first")
    top2 = await api.comment(author, post, "second")
    r1 = await api.comment(author, post, "reply", parent_id=top1["id"])
    r2 = await api.comment(reader, post, "reply to reply", parent_id=r1["id"])
    assert (r1["depth"], r1["root_id"], r2["depth"], r2["root_id"]) == (
        1,
        top1["id"],
        2,
        top1["id"],
    )
    full = (await api.http.get(f"/v1/posts/{post}/comments", params={"depth": 5})).json()
    assert _ids(full["items"]) == [[top1["id"], [[r1["id"], [[r2["id"], []]]]]], [top2["id"], []]]
    shallow = (await api.http.get(f"/v1/posts/{post}/comments", params={"depth": 1})).json()
    assert _ids(shallow["items"]) == [[top1["id"], [[r1["id"], []]]], [top2["id"], []]]
    assert (await api.http.get(f"/v1/posts/{post}")).json()["stats"]["comments"] == 4


async def test_reply_must_belong_to_the_post(api: Api) -> None:
    author = await api.user()
    p1, p2 = (await api.post(author))["id"], (await api.post(author))["id"]
    top = await api.comment(author, p1)
    response = await api.http.post(
        f"/v1/posts/{p2}/comments",
        json={"body": "x", "parent_id": top["id"]},
        headers=author.headers,
    )
    assert assert_problem(response, 404)["errors"][0]["field"] == "parent_id"
    empty = await api.http.post(
        f"/v1/posts/{p1}/comments", json={"body": "  "}, headers=author.headers
    )
    assert_problem(empty, 422)
    draft = (await api.post(author, status="draft"))["id"]
    closed = await api.http.post(
        f"/v1/posts/{draft}/comments", json={"body": "x"}, headers=author.headers
    )
    assert_problem(closed, 409)


async def test_soft_delete_keeps_the_thread(api: Api) -> None:
    author, reader = await api.user(), await api.user()
    post = (await api.post(author))["id"]
    top = await api.comment(reader, post, "doomed")
    reply = await api.comment(author, post, "survivor", parent_id=top["id"])
    deleted = await api.http.delete(f"/v1/comments/{top['id']}", headers=reader.headers)
    assert deleted.status_code == 204
    tree = (await api.http.get(f"/v1/posts/{post}/comments")).json()["items"]
    assert tree[0]["deleted"] is True and tree[0]["body"] == "" and tree[0]["author"] is None
    assert tree[0]["replies"][0]["id"] == reply["id"]
    assert (await api.http.get(f"/v1/posts/{post}")).json()["stats"]["comments"] == 1
    again = await api.http.delete(f"/v1/comments/{top['id']}", headers=reader.headers)
    assert_problem(again, 404)
    reply_to_deleted = await api.http.post(
        f"/v1/posts/{post}/comments",
        json={"body": "x", "parent_id": top["id"]},
        headers=author.headers,
    )
    assert_problem(reply_to_deleted, 409)


COMMENT_MATRIX = {  # who: (edit, delete)
    "anonymous": (401, 401),
    "other": (403, 403),
    "author": (200, 204),
    "moderator": (403, 204),
    "admin": (403, 204),
}


async def test_authz_matrix_for_comment_writes(api: Api) -> None:
    writer = await api.user()
    actors = {
        "anonymous": None,
        "other": await api.user(),
        "author": writer,
        "moderator": await api.user(role=Role.MODERATOR),
        "admin": await api.user(role=Role.ADMIN),
    }
    post = (await api.post(await api.user()))["id"]
    for who, expected in COMMENT_MATRIX.items():
        actor = actors[who]
        headers = actor.headers if actor else {}
        comment = await api.comment(writer, post, "mine")
        url = f"/v1/comments/{comment['id']}"
        edit = await api.http.patch(url, json={"body": "edited"}, headers=headers)
        delete = await api.http.delete(url, headers=headers)
        assert (edit.status_code, delete.status_code) == expected, who
        if who == "author":
            assert edit.json()["body"] == "edited"


async def test_blocked_users_cannot_comment_or_like(api: Api) -> None:
    author, pest = await api.user(), await api.user()
    post = (await api.post(author))["id"]
    comment = await api.comment(author, post)
    await api.http.post(f"/v1/users/{pest.id}/block", headers=author.headers)
    refused = [
        await api.http.post(f"/v1/posts/{post}/comments", json={"body": "x"}, headers=pest.headers),
        await api.http.post(f"/v1/posts/{post}/like", headers=pest.headers),
        await api.http.post(f"/v1/comments/{comment['id']}/like", headers=pest.headers),
        await api.http.post(f"/v1/users/{author.id}/follow", headers=pest.headers),
    ]
    for response in refused:
        assert_problem(response, 403)


async def test_comment_likes_are_exact_under_concurrency(api: Api) -> None:
    author = await api.user()
    fans = [await api.user() for _ in range(8)]
    post = (await api.post(author))["id"]
    comment = await api.comment(author, post)
    url = f"/v1/comments/{comment['id']}/like"
    await asyncio.gather(*(api.http.post(url, headers=f.headers) for f in fans * 2))
    tree = (await api.http.get(f"/v1/posts/{post}/comments", headers=fans[0].headers)).json()
    assert tree["items"][0]["like_count"] == 8 and tree["items"][0]["liked"] is True
    result = await api.http.delete(url, headers=fans[0].headers)
    assert result.json() == {"liked": False, "likes": 7}


async def test_top_level_cursor_walk(api: Api) -> None:
    author = await api.user()
    post = (await api.post(author))["id"]
    made = [(await api.comment(author, post, f"c{i}"))["id"] for i in range(7)]
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await api.http.get(f"/v1/posts/{post}/comments", params=params)).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == made


async def test_tree_costs_constant_statements(api: Api, db: Database) -> None:
    author, reader = await api.user(), await api.user()
    post = (await api.post(author))["id"]

    async def cost() -> int:
        with db.monitor.count() as counter:
            response = await api.http.get(
                f"/v1/posts/{post}/comments",
                params={"depth": 10, "limit": 50},
                headers=reader.headers,
            )
        assert response.status_code == 200
        return count_queries(counter.sql)

    top = await api.comment(author, post)
    # The session and the post body are cached from here: both measures are tree misses.
    await api.http.get(f"/v1/posts/{post}", headers=reader.headers)
    small = await cost()
    parent = top["id"]
    for i in range(12):
        writer = author if i % 2 else reader
        parent = (await api.comment(writer, post, f"r{i}", parent_id=parent))["id"]
        await api.comment(await api.user(), post, f"t{i}")
    assert small == await cost() <= 6
