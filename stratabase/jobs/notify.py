"""Wake idle workers when jobs arrive: LISTEN/NOTIFY on PostgreSQL, an in-process signal.

Enqueue sends ``pg_notify('stratabase_jobs', queue)`` inside its transaction (delivered only
on commit) and, after commit, wakes the workers subscribed to the same ``Database`` object
(``Database.wakeups``: embedded mode, where the composition root gives the API and the worker
one database). No registry is kept per process. Workers also poll, so a lost notification
(listener reconnecting, SQLite across processes) costs at most one poll interval, never a job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.listen import Listener
from stratabase.db.session import after_commit, database_of

logger = logging.getLogger("stratabase.jobs")

CHANNEL = "stratabase_jobs"


def wake_after_commit(session: AsyncSession) -> None:
    """Once ``session`` commits, wake this process's workers on its database."""
    db = database_of(session)
    if db is not None:
        after_commit(session, db.wakeups.wake)


async def notify(session: AsyncSession, queues: Iterable[str]) -> None:
    """Tell listening workers (after commit) that ``queues`` have new jobs."""
    for queue in sorted(set(queues)):
        await session.execute(
            text("SELECT pg_notify(:channel, :queue)"),
            {
                "channel": CHANNEL,
                "queue": queue,
            },
        )


class PgListener(Listener):
    """LISTENs on the jobs channel (``db/listen.py``); sets ``event`` for ``queues``' jobs."""

    def __init__(self, url: str, queues: Iterable[str], event: asyncio.Event) -> None:
        wanted = frozenset(queues)

        def on_payload(payload: str) -> None:
            if payload in wanted:
                event.set()

        super().__init__(
            url,
            CHANNEL,
            on_payload=on_payload,
            on_connect=event.set,
            name="job listener",
            logger=logger,
        )
