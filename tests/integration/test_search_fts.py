"""The search index follows every write path in the writer's transaction (FTS5 triggers on
SQLite, the tsvector column on PostgreSQL), and no query string can make matching fail."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.session import Database
from stratabase.exceptions import InvalidInput
from stratabase.models import User
from stratabase.pagination import CursorCodec
from stratabase.search import fts, index, service
from stratabase.search.text import parse_query

CODEC = CursorCodec("test-secret-key-for-search-cursors")


async def _users(db: Database, count: int) -> list[int]:
    """Users that are not in the index yet (the tests index them by hand)."""

    async def work(session: AsyncSession) -> list[int]:
        users = [
            User(email=f"fts{i}@example.com", username=f"fts{i}", name=f"F {i}")
            for i in range(count)
        ]
        session.add_all(users)
        await session.flush()
        return [user.id for user in users]

    return await db.transaction(work)


async def _found(db: Database, query: str) -> list[int]:
    page = await service.search(db, None, query, kind="users", codec=CODEC, cursor=None, limit=100)
    return [item["id"] for item in page.items]


async def _index_is_consistent(db: Database) -> None:
    """On SQLite, FTS5's own check that the index equals ``search_documents``."""
    if db.engine.dialect.name != "sqlite":
        return
    async with db.engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO search_fts (search_fts, rank) VALUES ('integrity-check', 1)")
        )


async def test_index_follows_upserts_bulk_inserts_deletes_and_rollbacks(db: Database) -> None:
    first, second = await _users(db, 2)

    async def add(session: AsyncSession) -> None:
        await index.upsert(session, "user", first, "fts0 quokka", "lives on Rottnest")

    await db.transaction(add)
    assert await _found(db, "quokka") == [first]
    assert await _found(db, "rottnest") == [first]

    async def rename(session: AsyncSession) -> None:  # ON CONFLICT … DO UPDATE
        await index.upsert(session, "user", first, "fts0 wombat", "burrows")

    await db.transaction(rename)
    assert await _found(db, "quokka") == [] and await _found(db, "rottnest") == []
    assert await _found(db, "wombat") == [first]

    class Boom(Exception):
        pass

    async def fails(session: AsyncSession) -> None:
        await index.upsert(session, "user", second, "fts1 quokka", "")
        await index.remove(session, "user", first)
        raise Boom

    with pytest.raises(Boom):
        await db.transaction(fails)
    assert await _found(db, "quokka") == []  # the insert rolled back with its index entry
    assert await _found(db, "wombat") == [first]  # and so did the delete

    async def bulk(session: AsyncSession) -> None:
        await index.insert_many(session, [index.document("user", second, "fts1 quokka", "")])

    await db.transaction(bulk)
    assert await _found(db, "quokka") == [second]

    async def remove(session: AsyncSession) -> None:
        await index.remove(session, "user", second)

    await db.transaction(remove)
    assert await _found(db, "quokka") == []
    await _index_is_consistent(db)

    async def wipe(session: AsyncSession) -> None:  # plain SQL, as rebuild() clears
        await session.execute(text("DELETE FROM search_documents"))

    await db.transaction(wipe)
    assert await _found(db, "wombat") == []
    await _index_is_consistent(db)


async def test_rank_orders_pages_exactly_and_title_beats_body(db: Database) -> None:
    ids = await _users(db, 12)

    async def fill(session: AsyncSession) -> None:
        for n, user_id in enumerate(ids):
            # Ties (same score) and distinct scores (body lengths differ) both occur.
            title = f"fts{n} numbat" if n < 2 else f"fts{n}"
            body = " ".join(["numbat"] * (n % 2) + ["filler"] * (n // 3)) if n >= 2 else "x"
            await index.upsert(session, "user", user_id, title, body)

    await db.transaction(fill)
    seen: list[tuple[int, int]] = []
    cursor = None
    while True:
        page = await service.search(
            db, None, "numbat", kind="users", codec=CODEC, cursor=cursor, limit=4
        )
        seen.extend((item["rank"], item["id"]) for item in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    matching = [user_id for n, user_id in enumerate(ids) if n < 2 or n % 2]
    assert sorted(user_id for _, user_id in seen) == sorted(matching)  # each exactly once
    assert seen == sorted(seen, reverse=True)  # (rank, id) descending across pages
    assert {user_id for _, user_id in seen[:2]} == set(ids[:2])  # title hits rank first


def test_match_expression_quotes_every_term() -> None:
    parsed = parse_query('skip "locked rows" -btree OR brulee -"a b" NEAR(x) col:y')
    assert fts.match_expression(parsed) == (
        '(("skip") AND ("locked rows" OR "brulee") AND ("near x") AND ("col y")) '
        'NOT ("btree" OR "a b")'
    )
    assert fts.match_expression(parse_query("-only -exclusions")) is None
    assert fts.match_expression(parse_query("_ __")) is None
    assert fts.match_expression(parse_query("postgres _")) == '("postgres")'


_PIECES = [
    '"', "-", "OR", "AND", "NOT", "NEAR(", "(", ")", "*", "^", ":", "+", "{", "}", "'",
    ";", "%", "_", "\\", "title_terms:", "rank", "bm25(", "quokka", "Café", "日本", "🐘",
    "\u0301", "x" * 40,
]  # fmt: skip


async def test_no_query_string_makes_matching_fail(db: Database) -> None:
    (user_id,) = await _users(db, 1)

    async def add(session: AsyncSession) -> None:
        await index.upsert(session, "user", user_id, "fts0 quokka", "café 日本")

    await db.transaction(add)
    rng = random.Random(4)
    for _ in range(150):
        parts = rng.choices(_PIECES, k=rng.randint(1, 8))
        query = "".join(part + rng.choice(["", " "]) for part in parts)
        try:
            hits = await _found(db, query)
        except InvalidInput:
            assert not query.strip(), query
            continue
        assert hits in ([], [user_id]), query
