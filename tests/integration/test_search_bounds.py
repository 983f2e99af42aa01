"""Search ranks a bounded candidate set: the ``CANDIDATES`` newest matches, by rank.

The contract (stratabase.search.service): the matches with the highest document ids (after a
seed or rebuild, the newest posts) are ranked; pages list them by (rank, id) descending and
the cursor walks them to the end; past the bound there is no next page. On PostgreSQL both
plans (ordered walk of the newest documents, GIN lookup) must give the same pages.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from stratabase.db.session import Database
from stratabase.pagination import CursorCodec
from stratabase.search import index, service
from stratabase.seed import orchestrator
from stratabase.seed.sizes import SIZES

CODEC = CursorCodec("test-secret-key-for-search-bounds")
BOUND = 7
#: A common word (in every generated paragraph), two words, a phrase, an exclusion, an OR.
QUERIES = ["the", "the more", '"the answer"', "the -question", "answer OR question"]


async def _all_pages(db: Database, query: str, limit: int) -> list[list[tuple[int, int]]]:
    pages, cursor = [], None
    while True:
        page = await service.search(
            db, None, query, kind="posts", codec=CODEC, cursor=cursor, limit=limit
        )
        pages.append([(item["rank"], item["id"]) for item in page.items])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


async def _document_ids(db: Database) -> dict[int, int]:
    sql = "SELECT ref_id, id FROM search_documents WHERE kind = 'post'"
    async with db.engine.connect() as conn:
        return {int(ref): int(doc) for ref, doc in await conn.execute(text(sql))}


@pytest.fixture
async def seeded(db: Database) -> Database:
    await orchestrator.seed(db, theme="tech", size=SIZES["tiny"], seed=3)
    return db


def _plans(db: Database) -> list[float]:
    """GIN_COST_RATIO values that force each PostgreSQL plan: walk (huge), GIN (zero)."""
    return [1e12, 0.0] if db.backend == "postgres" else [service.GIN_COST_RATIO]


@pytest.mark.parametrize("query", QUERIES)
async def test_pages_rank_the_newest_matches_and_end_at_the_bound(
    seeded: Database, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    db = seeded
    monkeypatch.setattr(service, "CANDIDATES", 10**6)  # every match: the oracle
    everything = [hit for page in await _all_pages(db, query, 100) for hit in page]
    assert len(everything) > BOUND, "the query must match more than the bound"
    doc_ids = await _document_ids(db)
    newest = sorted(everything, key=lambda hit: doc_ids[hit[1]], reverse=True)[:BOUND]
    expected = sorted(newest, reverse=True)  # (rank, id) descending

    monkeypatch.setattr(service, "CANDIDATES", BOUND)
    for ratio in _plans(db):
        monkeypatch.setattr(service, "GIN_COST_RATIO", ratio)
        first = await service.search(
            db, None, query, kind="posts", codec=CODEC, cursor=None, limit=3
        )
        assert [(i["rank"], i["id"]) for i in first.items] == expected[:3]  # the right first page
        pages = await _all_pages(db, query, 3)
        assert [len(page) for page in pages] == [3, 3, 1]  # then no next page: the bound
        assert [hit for page in pages for hit in page] == expected


async def test_a_new_post_enters_the_candidates_first(
    seeded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newest document is always a candidate, whatever older matches rank."""
    db = seeded
    monkeypatch.setattr(service, "CANDIDATES", BOUND)
    async with db.engine.connect() as conn:
        post_id = int(
            (
                await conn.execute(text("SELECT max(id) FROM posts WHERE status = 'published'"))
            ).scalar_one()
        )

    async def reindex(session: Any) -> None:  # a fresh document: the highest id
        await index.remove(session, "post", post_id)
        await index.upsert(session, "post", post_id, "Quiet title", "the wombat note")

    await db.transaction(reindex)
    for ratio in _plans(db):
        monkeypatch.setattr(service, "GIN_COST_RATIO", ratio)
        found = [hit[1] for page in await _all_pages(db, "the", 3) for hit in page]
        assert post_id in found and len(found) == BOUND
