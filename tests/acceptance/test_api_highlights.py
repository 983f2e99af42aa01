"""Highlights over HTTP: offsets checked against the block's text, who sees what."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from stratabase.db.session import Database
from stratabase.enums import Role
from stratabase.settings import Settings
from tests.acceptance.api_support import Api, assert_problem, make_api

BLOCKS = [
    {"type": "heading", "text": "Título"},
    {"type": "paragraph", "text": "Hello wörld, the quick fox."},
    {"type": "image", "url": "https://example.com/a.png"},
    {"type": "list", "items": ["one", "two"]},
]


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for api in make_api(settings, db):
        yield api


def _mark(block: int, start: int, end: int, **extra: Any) -> dict[str, Any]:
    return {"block_index": block, "start_offset": start, "end_offset": end, **extra}


async def test_offsets_are_checked_against_the_blocks_text(api: Api) -> None:
    author, reader = await api.user(), await api.user()
    post = await api.post(author, content_blocks=BLOCKS)
    url = f"/v1/posts/{post['id']}/highlights"
    made = await api.http.post(url, json=_mark(1, 6, 11, note="nice"), headers=reader.headers)
    assert made.status_code == 201, made.text
    assert made.json()["text"] == "wörld" and made.json()["note"] == "nice"
    across = await api.http.post(url, json=_mark(3, 2, 6), headers=reader.headers)
    assert across.json()["text"] == "e\ntw"
    whole = await api.http.post(url, json=_mark(0, 0, 6), headers=reader.headers)
    assert whole.json()["text"] == "Título"
    refusals = [
        (_mark(0, 0, 7), "end_offset"),
        (_mark(1, 5, 5), "start_offset"),
        (_mark(1, 9, 3), "start_offset"),
        (_mark(2, 0, 1), "block_index"),
        (_mark(9, 0, 1), "block_index"),
        (_mark(1, -1, 3), "start_offset"),
        (_mark(1, 0, 3, note="x" * 2001), "note"),
    ]
    for body, field in refusals:
        problem = assert_problem(await api.http.post(url, json=body, headers=reader.headers), 422)
        assert problem["errors"][0]["field"] == field, (body, problem)
    assert_problem(
        await api.http.post(
            "/v1/posts/999999/highlights", json=_mark(0, 0, 1), headers=reader.headers
        ),
        404,
    )
    draft = await api.post(author, content_blocks=BLOCKS, status="draft")
    assert_problem(
        await api.http.post(
            f"/v1/posts/{draft['id']}/highlights", json=_mark(0, 0, 1), headers=reader.headers
        ),
        404,
    )


async def test_lists_counts_and_the_authorization_matrix(api: Api) -> None:
    author, owner, other = await api.user(), await api.user(), await api.user()
    admin = await api.user(role=Role.ADMIN)
    post = await api.post(author, content_blocks=BLOCKS)
    url = f"/v1/posts/{post['id']}/highlights"
    ids = []
    for start in range(4):
        made = await api.http.post(url, json=_mark(1, start, start + 3), headers=owner.headers)
        ids.append(made.json()["id"])
    await api.http.post(url, json=_mark(0, 0, 2), headers=other.headers)
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await api.http.get("/v1/highlights", params=params, headers=owner.headers)).json()
        seen += [h["id"] for h in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    mine = (await api.http.get(url, headers=owner.headers)).json()
    assert mine["total"] == 5
    assert mine["blocks"] == [{"block_index": 0, "count": 1}, {"block_index": 1, "count": 4}]
    assert {h["text"] for h in mine["mine"]} == {"Hel", "ell", "llo", "lo "}
    theirs = (await api.http.get(url, headers=other.headers)).json()
    assert [h["text"] for h in theirs["mine"]] == ["Tí"]  # never the owner's text
    anonymous = (await api.http.get(url)).json()
    assert anonymous["mine"] == [] and anonymous["total"] == 5
    by_admin = (await api.http.get(url, headers=admin.headers)).json()
    assert by_admin["mine"] == []
    # who may delete: the owner only
    target = f"/v1/highlights/{ids[0]}"
    for actor in (other, admin, author):
        assert_problem(await api.http.delete(target, headers=actor.headers), 404)
    assert_problem(await api.http.delete(target), 401)
    assert (await api.http.delete(target, headers=owner.headers)).status_code == 204
    assert_problem(await api.http.delete(target, headers=owner.headers), 404)
    # writing and listing one's own need a sign-in
    assert_problem(await api.http.post(url, json=_mark(0, 0, 1)), 401)
    assert_problem(await api.http.get("/v1/highlights"), 401)
    others = (await api.http.get("/v1/highlights", headers=admin.headers)).json()
    assert others["items"] == []
