"""Helpers for the change-feed tests: write events, read the outbox, wait on conditions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.changes import outbox
from stratabase.changes.feed import Subscription
from stratabase.changes.outbox import Change
from stratabase.db.session import Database
from stratabase.models import ChangeEvent

#: Generous: the machine may be at load 10; a passing test never waits this long.
DEADLINE = 60.0


async def write(
    db: Database, topic: str = "post:1", type: str = "post.updated", **payload: Any
) -> None:
    """One committed transaction with one event."""

    async def work(session: AsyncSession) -> None:
        await outbox.append(session, topic, type, dict(payload))

    await db.transaction(work)


async def committed(db: Database) -> list[Change]:
    async with db.session() as session:
        rows = await session.scalars(select(ChangeEvent).order_by(ChangeEvent.id))
        return [Change.from_row(row) for row in rows]


async def wait_for(condition: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    """Poll ``condition`` until true; fail naming ``what`` after the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while True:
        outcome = condition()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def take(subscription: Subscription, count: int) -> list[Any]:
    """The next ``count`` items (events or resyncs) of ``subscription``."""
    items: list[Any] = []
    async with asyncio.timeout(DEADLINE):
        while len(items) < count:
            item = await subscription.next(timeout=1.0)
            if item is not None:
                items.append(item)
    return items
