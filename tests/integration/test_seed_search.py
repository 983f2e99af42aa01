"""The search index a seed leaves behind: the same documents the per-write path would give.

The PostgreSQL rebuild is set-based (COPY, then tsvectors computed in SQL) and, for big
rebuilds, drops and recreates the index's own indexes; it must still produce exactly the
rows and vectors of :mod:`stratabase.search.index` and leave the declared schema intact.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import select, text

from stratabase.db import migrate
from stratabase.db.session import Database
from stratabase.enums import PostStatus, UserStatus
from stratabase.exceptions import StratabaseError
from stratabase.models import Post, User
from stratabase.search import index, rebuild
from stratabase.search.text import terms_string
from stratabase.seed import orchestrator
from stratabase.seed.sizes import SIZES


def test_fast_terms_equal_the_reference_normalisation() -> None:
    samples = [
        "Café — résumé ﬁne ² Straße ÉCOLE naïve",
        "plain ascii Text_1",
        "",
        "\u2019q\u2019 İstanbul",
    ]
    rnd = random.Random(7)
    alphabet = "aZé_ -—\u2019ﬁ²İß\u0301Ǆ1\n"
    samples += [
        "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40))) for _ in range(2000)
    ]
    for sample in samples:
        assert rebuild.fast_terms(sample) == terms_string(sample), repr(sample)


async def _expected(db: Database) -> dict[tuple[str, int], tuple[str, str, str, str]]:
    """Documents as the per-write path builds them, from the ORM objects."""
    expected = {}
    async with db.session() as session:
        posts = await session.scalars(select(Post).where(Post.status == PostStatus.PUBLISHED))
        users = await session.scalars(select(User).where(User.status != UserStatus.DELETED))
        made = [index.post_document(p) for p in posts] + [index.user_document(u) for u in users]
    for doc in made:
        expected[(doc["p_kind"], doc["p_ref_id"])] = (
            doc["p_title"],
            doc["p_body"],
            doc["p_title_terms"],
            doc["p_body_terms"],
        )
    return expected


async def _stored(db: Database) -> dict[tuple[str, int], tuple[str, str, str, str]]:
    sql = "SELECT kind, ref_id, title, body, title_terms, body_terms FROM search_documents"
    async with db.engine.connect() as conn:
        return {(r[0], r[1]): tuple(r[2:]) for r in await conn.execute(text(sql))}


@pytest.mark.parametrize("reindex_min_docs", [rebuild.PG_REINDEX_MIN_DOCS, 0])
async def test_seed_indexes_what_the_write_path_would(
    db: Database, monkeypatch: pytest.MonkeyPatch, reindex_min_docs: int
) -> None:
    monkeypatch.setattr(rebuild, "PG_REINDEX_MIN_DOCS", reindex_min_docs)
    monkeypatch.setattr(rebuild, "PG_CHUNK", 50)  # several chunks through the pipeline
    result = await orchestrator.seed(db, theme="science", size=SIZES["tiny"], seed=4)
    assert result.extra["search_index_seconds"] >= 0

    expected = await _expected(db)
    assert expected and any(kind == "post" for kind, _ in expected)
    assert await _stored(db) == expected
    if db.backend == "postgres":
        differing = (
            "SELECT count(*) FROM search_documents WHERE vector IS DISTINCT FROM ("
            "setweight(to_tsvector('simple', title_terms), 'A') || "
            "setweight(to_tsvector('simple', body_terms), 'B'))"
        )
        async with db.engine.connect() as conn:
            assert (await conn.execute(text(differing))).scalar_one() == 0
    await migrate.check(db)  # indexes and the unique key are back, as declared

    again = await rebuild.rebuild(db)  # a second rebuild replaces, never duplicates
    assert again == {
        "posts": sum(kind == "post" for kind, _ in expected),
        "users": sum(kind == "user" for kind, _ in expected),
    }
    assert await _stored(db) == expected


async def test_rebuild_keeps_the_index_unique(db: Database) -> None:
    await orchestrator.seed(db, theme="tech", size=SIZES["tiny"], seed=2)
    await rebuild.rebuild(db)
    sql = (
        "SELECT count(*) FROM (SELECT kind, ref_id FROM search_documents "
        "GROUP BY 1, 2 HAVING count(*) > 1) AS twice"
    )
    async with db.engine.connect() as conn:
        assert (await conn.execute(text(sql))).scalar_one() == 0
    with pytest.raises(StratabaseError):  # the unique key is back after the rebuild
        async with db.begin() as session:
            row: Any = (
                await session.execute(text("SELECT kind, ref_id FROM search_documents LIMIT 1"))
            ).one()
            await session.execute(
                text(
                    "INSERT INTO search_documents (kind, ref_id, title, body, title_terms, "
                    "body_terms, updated_at) VALUES (:k, :r, 't', 'b', ' t ', ' b ', "
                    "CURRENT_TIMESTAMP)"
                ),
                {"k": row[0], "r": row[1]},
            )


@pytest.mark.parametrize("backend", ["postgres"])  # planner statistics are PostgreSQL's
async def test_postgres_seed_leaves_planner_statistics(db: Database) -> None:
    """The first reads after a seed are planned with the loaded tables' real sizes."""
    await orchestrator.seed(db, theme="tech", size=SIZES["tiny"], seed=3)
    async with db.session() as session:
        analyzed = set(
            await session.scalars(
                text(
                    "SELECT relname FROM pg_stat_user_tables WHERE "
                    "coalesce(last_analyze, last_autoanalyze) IS NOT NULL"
                )
            )
        )
    assert {"posts", "users", "comments", "likes"} <= analyzed
