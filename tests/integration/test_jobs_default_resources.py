"""A real worker's episode generation charges the ledger and indexes the post for search."""

from __future__ import annotations

from sqlalchemy import select

from stratabase.db.session import Database
from stratabase.jobs.queue import ClaimedJob
from stratabase.jobs.registry import TaskContext
from stratabase.jobs.resources import default_resources
from stratabase.jobs.tasks import episodes
from stratabase.ledger.service import LedgerService
from stratabase.models import PostStats, SearchDocument
from stratabase.settings import Settings
from tests.integration.test_jobs_publishing import _world


async def test_default_resources_hold_and_charge_tokens(db: Database, settings: Settings) -> None:
    ids = await _world(db)
    ledger = LedgerService(db)
    await ledger.credit(ids["user"], 3_000, reason="test grant")
    context = TaskContext(
        db, settings, ClaimedJob(1, "episodes", "x", {}, 1, 4), default_resources(db)
    )
    payload = {"project_id": ids["project"], "scheduled_for": "2026-03-08T07:30:00+00:00"}
    result = await episodes.generate(context, payload)
    assert result is not None and result["tokens"] > 0
    wallet = await ledger.wallet(ids["user"])
    assert wallet.balance == 3_000 - result["tokens"]
    assert wallet.available == wallet.balance  # the hold was posted, nothing left reserved
    async with db.session() as session:
        indexed = await session.scalar(
            select(SearchDocument.title).where(
                SearchDocument.kind == "post", SearchDocument.ref_id == result["post_id"]
            )
        )
        stats = await session.get(PostStats, result["post_id"])
    assert indexed  # the episode post is searchable from the moment it is committed
    assert stats is not None and stats.views == 0
