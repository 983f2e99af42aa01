"""``switch-theme`` reindexes only the posts, in its own transaction, in a constant number of
statements, and leaves exactly the documents the per-write path would give."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import text

from stratabase.db.session import Database
from stratabase.search import rebuild
from stratabase.seed import orchestrator
from stratabase.seed.sizes import SIZES
from tests.integration.test_seed_search import _expected, _stored


async def _user_rows(db: Database) -> list[tuple[object, ...]]:
    sql = "SELECT id, ref_id, updated_at FROM search_documents WHERE kind = 'user' ORDER BY id"
    async with db.engine.connect() as conn:
        return [tuple(row) for row in await conn.execute(text(sql))]


async def _published(db: Database) -> int:
    async with db.engine.connect() as conn:
        sql = "SELECT count(*) FROM posts WHERE status = 'published'"
        return int((await conn.execute(text(sql))).scalar_one())


async def test_switch_leaves_the_documents_the_write_path_would(db: Database) -> None:
    await orchestrator.seed(db, theme="politics", size=SIZES["tiny"], seed=3)
    users = await _user_rows(db)

    result = await orchestrator.switch_theme(db, "science")

    assert result.extra["search_index_seconds"] > 0
    expected = await _expected(db)
    assert any(kind == "post" for kind, _ in expected)
    assert await _stored(db) == expected
    assert await _user_rows(db) == users  # the people did not change: their rows stay as is
    if db.backend == "postgres":
        differing = (
            "SELECT count(*) FROM search_documents WHERE vector IS DISTINCT FROM ("
            "setweight(to_tsvector('simple', title_terms), 'A') || "
            "setweight(to_tsvector('simple', body_terms), 'B'))"
        )
        async with db.engine.connect() as conn:
            assert (await conn.execute(text(differing))).scalar_one() == 0


@pytest.mark.parametrize("chunk", [rebuild.CHUNK, 7])
async def test_reindexing_posts_costs_statements_per_chunk_not_per_post(
    db: Database, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(rebuild, "CHUNK", chunk)
    await orchestrator.seed(db, theme="tech", size=SIZES["tiny"], seed=5)
    published = await _published(db)
    assert published > 2 * chunk or chunk == rebuild.CHUNK

    with db.monitor.count() as counter:
        async with db.begin() as session:
            indexed = await rebuild.reindex_posts(await session.connection())

    assert indexed == published
    pages = published // chunk + 1  # the last page is short (or empty)
    inserts = math.ceil(published / chunk)
    lock = 1 if db.backend == "postgres" else 0
    issued = [sql for sql in counter.sql if not sql.startswith("BEGIN")]  # SQLite's own
    assert len(issued) == lock + 1 + pages + inserts, issued
    expected = await _expected(db)
    assert await _stored(db) == expected


async def test_a_failed_switch_keeps_the_old_documents(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await orchestrator.seed(db, theme="politics", size=SIZES["tiny"], seed=3)
    before = await _stored(db)

    async def broken(conn: object) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(rebuild, "reindex_posts", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        await orchestrator.switch_theme(db, "science")
    assert await _stored(db) == before  # one transaction: the posts did not change either
    assert (await orchestrator.stats(db)).theme == "politics"


async def test_a_big_postgres_switch_rebuilds_the_whole_index_after_commit(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rebuild, "PG_REINDEX_MIN_DOCS", 1)  # every switch counts as big
    await orchestrator.seed(db, theme="politics", size=SIZES["tiny"], seed=3)
    calls: list[str] = []
    full = rebuild.rebuild

    async def counted(database: Database) -> dict[str, int]:
        calls.append("rebuild")
        return await full(database)

    monkeypatch.setattr(rebuild, "rebuild", counted)
    await orchestrator.switch_theme(db, "tech")
    assert calls == (["rebuild"] if db.backend == "postgres" else [])
    assert await _stored(db) == await _expected(db)
