"""A real worker's episode generation charges the owner's wallet through the ledger."""

from __future__ import annotations

from stratabase.db.session import Database
from stratabase.jobs.queue import ClaimedJob
from stratabase.jobs.registry import TaskContext
from stratabase.jobs.resources import default_resources
from stratabase.jobs.tasks import episodes
from stratabase.ledger.service import LedgerService
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
