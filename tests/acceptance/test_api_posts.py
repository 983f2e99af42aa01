"""Posts over HTTP: the authz matrix, drafts, status changes, lists, batch reads, views,
likes, and constant statement counts for the post page and post lists."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.session import Database
from stratabase.enums import MediaType, Role
from stratabase.models import Media
from stratabase.settings import Settings
from tests.acceptance.api_support import Actor, Api, assert_problem, count_queries, make_api


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for api in make_api(settings, db):
        yield api


async def _add_media(db: Database, post_id: int, count: int) -> None:
    async def work(session: AsyncSession) -> None:
        for position in range(count):
            session.add(
                Media(
                    post_id=post_id,
                    url=f"https://cdn.example.com/{post_id}/{position}.png",
                    type=MediaType.IMAGE,
                    position=position,
                )
            )

    await db.transaction(work)


async def test_post_page_has_everything_in_one_response(api: Api, db: Database) -> None:
    author = await api.user()
    category = await api.category()
    post = await api.post(
        author,
        title="Hello",
        category_id=category,
        tags=["Python", "python", "SQL"],
        content_blocks=[{"type": "heading", "text": "Intro", "level": 2}],
    )
    await _add_media(db, post["id"], 2)
    body = (await api.http.get(f"/v1/posts/{post['id']}")).json()
    assert body["author"]["username"] == author.username and "email" not in body["author"]
    assert body["category"]["id"] == category
    assert [t["slug"] for t in body["tags"]] == ["python", "sql"]
    assert [m["position"] for m in body["media"]] == [0, 1]
    assert body["stats"] == {**body["stats"], "views": 0, "likes": 0, "comments": 0}
    assert body["content_blocks"][0]["level"] == 2
    assert body["liked"] is None


async def test_nul_characters_are_422_not_500(api: Api) -> None:
    author = await api.user()
    refused = [
        await api.http.post(
            "/v1/posts", json={"kind": "note", "title": "a\u0000b"}, headers=author.headers
        ),
        await api.http.get("/v1/users", params={"search": "a\u0000"}),
        await api.http.get("/v1/search", params={"q": "post\u0000gres"}),
        await api.http.get("/v1/categories", params={"theme": "\u0000"}),
    ]
    for response in refused:
        assert_problem(response, 422)
    # An escaped backslash before "u0000" is ordinary text, not a NUL.
    fine = await api.http.post(
        "/v1/posts",
        content=b'{"kind": "note", "title": "a\\\\u0000b"}',
        headers={**author.headers, "Content-Type": "application/json"},
    )
    assert fine.status_code == 201 and fine.json()["title"] == "a\\u0000b"


async def test_post_validation_errors_name_the_field(api: Api) -> None:
    author = await api.user()
    response = await api.http.post(
        "/v1/posts",
        json={
            "kind": "article",
            "title": "x",
            "content_blocks": [{"type": "heading", "text": "t", "level": 9}],
        },
        headers=author.headers,
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"].startswith("content_blocks.0")
    missing_category = await api.http.post(
        "/v1/posts",
        json={"kind": "note", "title": "x", "category_id": 999999},
        headers=author.headers,
    )
    assert_problem(missing_category, 404)
    assert_problem(await api.http.post("/v1/posts", json={"kind": "note", "title": "x"}), 401)


POST_MATRIX = {  # who: (edit, archive, hide, delete)
    "anonymous": (401, 401, 401, 401),
    "other": (403, 403, 403, 403),
    "author": (200, 200, 403, 204),
    "moderator": (403, 403, 200, 403),
    "admin": (403, 403, 200, 403),
}


async def test_authz_matrix_for_post_writes(api: Api) -> None:
    author = await api.user()
    actors: dict[str, Actor | None] = {
        "anonymous": None,
        "other": await api.user(),
        "author": author,
        "moderator": await api.user(role=Role.MODERATOR),
        "admin": await api.user(role=Role.ADMIN),
    }
    for who, expected in POST_MATRIX.items():
        actor = actors[who]
        headers = actor.headers if actor else {}
        pid = (await api.post(author, title="Original"))["id"]
        responses = [
            await api.http.patch(f"/v1/posts/{pid}", json={"title": "Edited"}, headers=headers),
            await api.http.post(f"/v1/posts/{pid}/archive", headers=headers),
            await api.http.post(f"/v1/posts/{pid}/hide", headers=headers),
            await api.http.delete(f"/v1/posts/{pid}", headers=headers),
        ]
        assert tuple(r.status_code for r in responses) == expected, who
        for response in responses:
            if response.status_code >= 400:
                assert response.headers["content-type"].startswith("application/problem+json")


async def test_drafts_are_visible_only_to_their_author(api: Api) -> None:
    author, other = await api.user(), await api.user()
    moderator = await api.user(role=Role.MODERATOR)
    draft = await api.post(author, title="Secret", status="draft")
    url = f"/v1/posts/{draft['id']}"
    assert (await api.http.get(url, headers=author.headers)).status_code == 200
    for headers in ({}, other.headers, moderator.headers):
        assert_problem(await api.http.get(url, headers=headers), 404)
    listed = await api.http.get("/v1/posts", params={"status": "draft"}, headers=other.headers)
    assert listed.json()["items"] == []
    mine = await api.http.get("/v1/posts", params={"status": "draft"}, headers=author.headers)
    assert [p["id"] for p in mine.json()["items"]] == [draft["id"]]
    assert_problem(await api.http.get("/v1/posts", params={"status": "draft"}), 403)
    public = await api.http.get("/v1/posts")
    assert public.json()["items"] == []
    published = await api.http.post(f"{url}/publish", headers=author.headers)
    assert published.status_code == 200 and published.json()["published_at"]
    assert (await api.http.get(url)).status_code == 200


async def test_hidden_posts_are_for_author_and_moderators(api: Api) -> None:
    author, other = await api.user(), await api.user()
    moderator = await api.user(role=Role.MODERATOR)
    post = await api.post(author)
    url = f"/v1/posts/{post['id']}"
    assert (await api.http.post(f"{url}/hide", headers=moderator.headers)).json()[
        "status"
    ] == "hidden"
    assert_problem(await api.http.get(url, headers=other.headers), 404)
    assert (await api.http.get(url, headers=author.headers)).status_code == 200
    assert (await api.http.get(url, headers=moderator.headers)).status_code == 200
    assert_problem(await api.http.post(f"{url}/publish", headers=author.headers), 403)
    restored = await api.http.post(f"{url}/publish", headers=moderator.headers)
    assert restored.json()["status"] == "published"
    assert (await api.http.get(url, headers=other.headers)).status_code == 200


async def test_list_filters_and_batch_ids(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    tech = await api.category("Tech")
    a1 = await api.post(alice, kind="article", category_id=tech, tags=["Rust"])
    a2 = await api.post(alice, kind="note")
    b1 = await api.post(bob, kind="video", category_id=tech)
    await api.post(bob, kind="note", status="draft")

    async def ids(**params: object) -> list[int]:
        response = await api.http.get("/v1/posts", params=params)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    assert await ids() == [b1["id"], a2["id"], a1["id"]]
    assert await ids(author=alice.id) == [a2["id"], a1["id"]]
    assert await ids(category=tech) == [b1["id"], a1["id"]]
    assert await ids(tag="rust") == [a1["id"]]
    assert await ids(kind="note") == [a2["id"]]
    assert await ids(ids=f"{a1['id']},999999,{b1['id']},{a1['id']}") == [a1["id"], b1["id"]]
    partial = (await api.http.get("/v1/posts", params={"fields": "title,kind"})).json()
    assert set(partial["items"][0]) == {"id", "title", "kind"}
    for bad in (
        {"fields": "title,password"},
        {"ids": "1,x"},
        {"kind": "poem"},
        {"limit": 0},
        {"author": 2**70},
    ):
        assert_problem(await api.http.get("/v1/posts", params=bad), 422)


async def test_cursor_walk_sees_every_row_once_while_rows_are_inserted(api: Api) -> None:
    author = await api.user()
    existing = [(await api.post(author, title=f"p{i}"))["id"] for i in range(9)]
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.http.get("/v1/posts", params=params)).json()
        seen.extend(p["id"] for p in page["items"])
        await api.post(author, title="inserted meanwhile")
        cursor = page["next_cursor"]
        assert page["has_more"] == (cursor is not None)
        if cursor is None:
            break
    assert seen == sorted(existing, reverse=True)


async def test_tampered_or_foreign_cursors_are_422(api: Api) -> None:
    author = await api.user()
    for i in range(3):
        await api.post(author, title=f"p{i}")
    cursor = (await api.http.get("/v1/posts", params={"limit": 1})).json()["next_cursor"]
    payload, signature = cursor.split(".")
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    for bad in (forged, cursor + "x", "garbage", "a.b.c", ""):
        response = await api.http.get("/v1/posts", params={"cursor": bad, "limit": 1})
        if bad == "":
            assert response.status_code == 200
            continue
        assert assert_problem(response, 422)["errors"][0]["field"] == "cursor"
    other_list = await api.http.get("/v1/posts", params={"cursor": cursor, "kind": "note"})
    assert_problem(other_list, 422)


async def _statements(api: Api, db: Database, url: str, headers: dict[str, str]) -> int:
    with db.monitor.count() as counter:
        response = await api.http.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return count_queries(counter.sql)


async def test_post_list_and_page_cost_a_constant_number_of_statements(
    api: Api, db: Database
) -> None:
    viewer = await api.user()
    authors = [await api.user() for _ in range(3)]
    category = await api.category()
    first = await api.post(authors[0], category_id=category, tags=["a", "b"])
    await _add_media(db, first["id"], 3)
    await api.http.get("/v1/me", headers=viewer.headers)  # session lookups are cached from here
    small = await _statements(api, db, "/v1/posts?limit=50", viewer.headers)
    page = await _statements(api, db, f"/v1/posts/{first['id']}", viewer.headers)
    for i in range(24):
        post = await api.post(authors[i % 3], category_id=category, tags=[f"t{i}", "a"])
        await _add_media(db, post["id"], 2)
        await api.http.post(f"/v1/posts/{post['id']}/like", headers=viewer.headers)
    large = await _statements(api, db, "/v1/posts?limit=50", viewer.headers)
    assert small == large <= 8  # auth + page + six batch loads, for 1 or 25 posts
    assert page <= 8


async def test_concurrent_views_are_all_counted(api: Api) -> None:
    author = await api.user()
    post = await api.post(author)
    responses = await asyncio.gather(
        *(api.http.post(f"/v1/posts/{post['id']}/views") for _ in range(40))
    )
    assert all(r.status_code == 200 for r in responses)
    assert sorted(r.json()["views"] for r in responses) == list(range(1, 41))
    assert (await api.http.get(f"/v1/posts/{post['id']}")).json()["stats"]["views"] == 40
    draft = await api.post(author, status="draft")
    assert_problem(await api.http.post(f"/v1/posts/{draft['id']}/views"), 404)


async def test_concurrent_likes_keep_the_counter_exact(api: Api) -> None:
    author = await api.user()
    fans = [await api.user() for _ in range(12)]
    post = await api.post(author)
    url = f"/v1/posts/{post['id']}/like"
    # Every fan likes twice at once: the second like of each is a no-op.
    await asyncio.gather(*(api.http.post(url, headers=f.headers) for f in fans + fans))
    body = (await api.http.get(f"/v1/posts/{post['id']}", headers=fans[0].headers)).json()
    assert body["stats"]["likes"] == 12 and body["liked"] is True
    await asyncio.gather(*(api.http.delete(url, headers=f.headers) for f in fans[:5] * 2))
    assert (await api.http.get(f"/v1/posts/{post['id']}")).json()["stats"]["likes"] == 7
    profile = (await api.http.get(f"/v1/users/{author.id}")).json()
    assert profile["stats"]["likes_received"] == 7


async def test_popular_and_trending(api: Api) -> None:
    author = await api.user()
    fans = [await api.user() for _ in range(3)]
    quiet = await api.post(author, title="quiet")
    loved = await api.post(author, title="loved")
    for fan in fans:
        await api.http.post(f"/v1/posts/{loved['id']}/like", headers=fan.headers)
    popular = (await api.http.get("/v1/posts/popular", params={"days": 7})).json()["items"]
    assert [p["id"] for p in popular] == [loved["id"], quiet["id"]]
    trending = (await api.http.get("/v1/posts/trending")).json()["items"]
    assert trending[0]["id"] == loved["id"] and trending[0]["score"] > trending[1]["score"]
    walk = (await api.http.get("/v1/posts/trending", params={"limit": 1})).json()
    rest = (await api.http.get("/v1/posts/trending", params={"cursor": walk["next_cursor"]})).json()
    assert [p["id"] for p in walk["items"] + rest["items"]] == [loved["id"], quiet["id"]]
    assert_problem(await api.http.get("/v1/posts/popular", params={"days": 0}), 422)


async def test_openapi_documents_the_v1_api(api: Api) -> None:
    spec = (await api.http.get("/openapi.json")).json()
    for path in ("/v1/posts", "/v1/posts/{post_id}", "/v1/feed", "/v1/search", "/v1/auth/login"):
        assert path in spec["paths"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    responses = spec["paths"]["/v1/posts/{post_id}"]["patch"]["responses"]
    assert {"200", "401", "403", "404", "422", "429"} <= set(responses)
    problem = responses["422"]["content"]["application/problem+json"]["schema"]
    assert problem["$ref"].endswith("/ProblemOut")
