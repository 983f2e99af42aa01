"""Search over HTTP: ranking, snippets, syntax, index kept in the writer's transaction,
and any input giving results or a 422, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from stratabase.db.session import Database
from stratabase.settings import Settings
from tests.acceptance.api_support import Actor, Api, assert_problem, make_api


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for api in make_api(settings, db):
        yield api


def _para(text: str) -> list[dict[str, str]]:
    return [{"type": "paragraph", "text": text}]


async def _search(api: Api, q: str, **params: Any) -> list[dict[str, Any]]:
    response = await api.http.get("/v1/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def _corpus(api: Api) -> tuple[Actor, dict[str, int]]:
    author = await api.user()
    posts = {
        "title": await api.post(author, title="Postgres indexing", content_blocks=_para("btree")),
        "body": await api.post(
            author, title="Notes", content_blocks=_para("we tune postgres <b>daily</b>")
        ),
        "cafe": await api.post(
            author, title="Café culture", content_blocks=_para("Crème brûlée at the café")
        ),
        "phrase": await api.post(
            author, title="Queues", content_blocks=_para("skip locked rows in postgres")
        ),
    }
    return author, {name: post["id"] for name, post in posts.items()}


async def test_ranked_with_title_hits_first_and_escaped_snippets(api: Api) -> None:
    _, ids = await _corpus(api)
    hits = await _search(api, "postgres")
    assert hits[0]["id"] == ids["title"]
    assert {h["id"] for h in hits} == {ids["title"], ids["body"], ids["phrase"]}
    assert "<mark>Postgres</mark>" in hits[0]["title"]
    body_hit = next(h for h in hits if h["id"] == ids["body"])
    assert "<mark>postgres</mark>" in body_hit["snippet"] and "&lt;b&gt;" in body_hit["snippet"]
    assert body_hit["post"]["author"]["id"] and body_hit["post"]["stats"] is not None


async def test_websearch_syntax(api: Api) -> None:
    _, ids = await _corpus(api)
    assert [h["id"] for h in await _search(api, '"skip locked"')] == [ids["phrase"]]
    assert [h["id"] for h in await _search(api, '"locked skip"')] == []
    without = {h["id"] for h in await _search(api, "postgres -btree")}
    assert without == {ids["body"], ids["phrase"]}
    either = {h["id"] for h in await _search(api, "btree OR brulee")}
    assert either == {ids["title"], ids["cafe"]}
    assert [h["id"] for h in await _search(api, "CAFÉ crème")] == [ids["cafe"]]


ODD_QUERIES = [
    '"',
    '""',
    "-",
    "- -",
    "OR",
    "OR OR postgres",
    "postgres OR",
    "a & b | !c",
    "(postgres",
    "postgres:*",
    "'; DROP TABLE posts; --",
    "%",
    "_",
    "\\",
    "日本語 テキスト",
    "emoji 🐘🐘",
    "x" * 499,
    '"unterminated phrase',
    "-postgres",
    "<script>",
    "a" * 3,
    # FTS5 syntax: every term reaches MATCH quoted, so none of it is read as an operator.
    "NEAR(postgres btree)",
    "title_terms:postgres",
    "{title_terms body_terms}: postgres",
    "^postgres",
    "postgres*",
    "postgres AND",
    "NOT postgres",
    '"postgres" + "btree"',
    "__",
    "-_",
]


async def test_odd_queries_give_results_not_errors(api: Api) -> None:
    _, ids = await _corpus(api)
    for q in ODD_QUERIES:
        response = await api.http.get("/v1/search", params={"q": q})
        assert response.status_code == 200, (q, response.text)
        assert isinstance(response.json()["items"], list)
    for q in ("(postgres", "^postgres", "postgres*", "postgres _"):
        hits = await _search(api, q)
        assert {h["id"] for h in hits} == {ids["title"], ids["body"], ids["phrase"]}, q


async def test_empty_or_too_long_queries_are_422(api: Api) -> None:
    for q in ("", "   ", "x" * 501):
        body = assert_problem(await api.http.get("/v1/search", params={"q": q}), 422)
        assert body["errors"][0]["field"] in ("q", "query.q")
    assert_problem(await api.http.get("/v1/search"), 422)
    assert_problem(await api.http.get("/v1/search", params={"q": "x", "type": "files"}), 422)


async def test_index_follows_the_post_lifecycle(api: Api) -> None:
    author = await api.user()
    draft = await api.post(author, title="Zeppelin draft", status="draft")
    assert await _search(api, "zeppelin") == []
    await api.http.post(f"/v1/posts/{draft['id']}/publish", headers=author.headers)
    assert [h["id"] for h in await _search(api, "zeppelin")] == [draft["id"]]
    await api.http.patch(
        f"/v1/posts/{draft['id']}", json={"title": "Airship"}, headers=author.headers
    )
    assert await _search(api, "zeppelin") == []
    assert [h["id"] for h in await _search(api, "airship")] == [draft["id"]]
    await api.http.post(f"/v1/posts/{draft['id']}/archive", headers=author.headers)
    assert await _search(api, "airship") == []
    # A write refused by the database leaves the index untouched (same transaction).
    failed = await api.http.post(
        "/v1/posts",
        json={"kind": "note", "title": "Dirigible", "status": "published", "category_id": 987654},
        headers=author.headers,
    )
    assert_problem(failed, 404)
    assert await _search(api, "dirigible") == []


async def test_user_search_and_paging(api: Api) -> None:
    for i in range(5):
        await api.user(bio=f"loves gardening number {i}")
    first = (
        await api.http.get("/v1/search", params={"q": "gardening", "type": "users", "limit": 3})
    ).json()
    assert len(first["items"]) == 3 and first["has_more"]
    rest = (
        await api.http.get(
            "/v1/search",
            params={"q": "gardening", "type": "users", "cursor": first["next_cursor"]},
        )
    ).json()
    ids = [u["id"] for u in first["items"] + rest["items"]]
    assert len(ids) == len(set(ids)) == 5
    assert all(hit["user"]["username"] for hit in first["items"])
    other_query = await api.http.get(
        "/v1/search", params={"q": "loves", "type": "users", "cursor": first["next_cursor"]}
    )
    assert_problem(other_query, 422)


@pytest.mark.parametrize("plan", ["gin", "walk"])
async def test_search_hides_muted_authors(
    api: Api, monkeypatch: pytest.MonkeyPatch, plan: str
) -> None:
    """On PostgreSQL through both candidate plans (GIN lookup, ordered walk)."""
    from stratabase.search import service

    monkeypatch.setattr(service, "GIN_COST_RATIO", 0.0 if plan == "gin" else 1e12)
    me, loud, calm = await api.user(), await api.user(), await api.user()
    await api.post(loud, title="Trumpet news")
    await api.post(calm, title="Trumpet lessons")
    assert len(await _search(api, "trumpet")) == 2
    await api.http.post(f"/v1/users/{loud.id}/mute", headers=me.headers)
    hits = (await api.http.get("/v1/search", params={"q": "trumpet"}, headers=me.headers)).json()
    assert [hit["post"]["author"]["id"] for hit in hits["items"]] == [calm.id]


async def test_rebuild_indexes_rows_loaded_behind_the_api(api: Api, db: Database) -> None:
    from sqlalchemy import delete

    from stratabase.models import SearchDocument
    from stratabase.search.rebuild import rebuild

    author = await api.user(bio="collects barometers")
    post = await api.post(author, title="Barometer restoration")
    await api.post(author, title="Barometer draft", status="draft")

    async def wipe(session: Any) -> None:
        await session.execute(delete(SearchDocument))

    await db.transaction(wipe)
    assert await _search(api, "barometer") == []
    counts = await rebuild(db)
    assert counts == {"posts": 1, "users": 1}
    assert [h["id"] for h in await _search(api, "barometer")] == [post["id"]]
    assert [h["id"] for h in await _search(api, "barometers", type="users")] == [author.id]


async def test_ranks_only_the_newest_matches_and_pages_end_at_the_bound(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ordering contract over HTTP: the ``CANDIDATES`` newest matches, by rank; an older
    match outside them is not listed however well it ranks; the cursor ends at the bound."""
    from stratabase.search import service

    monkeypatch.setattr(service, "CANDIDATES", 3)
    author = await api.user()
    oldest = await api.post(author, title="Wombat", content_blocks=_para("wombat wombat"))
    newer = [
        (await api.post(author, title=f"Note {n}", content_blocks=_para(f"a wombat {n}")))["id"]
        for n in range(3)
    ]
    params = {"q": "wombat", "limit": 2}
    first = await api.http.get("/v1/search", params=params)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["has_more"] and len(body["items"]) == 2
    second = await api.http.get("/v1/search", params={**params, "cursor": body["next_cursor"]})
    rest = second.json()
    assert not rest["has_more"] and rest["next_cursor"] is None
    found = [item["id"] for item in body["items"] + rest["items"]]
    assert sorted(found) == sorted(newer) and oldest["id"] not in found
    assert found == sorted(found, reverse=True)  # equal ranks: the newest first
