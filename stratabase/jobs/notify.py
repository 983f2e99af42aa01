"""Wake idle workers when jobs arrive: LISTEN/NOTIFY on PostgreSQL, an in-process signal.

Enqueue sends ``pg_notify('stratabase_jobs', queue)`` inside its transaction (delivered only
on commit) and, after commit, wakes the workers subscribed to the same ``Database`` object
(``Database.wakeups``: embedded mode, where the composition root gives the API and the worker
one database). No registry is kept per process. Workers also poll, so a lost notification
(listener reconnecting, SQLite across processes) costs at most one poll interval, never a job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterable
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.session import after_commit, database_of

logger = logging.getLogger("stratabase.jobs")

CHANNEL = "stratabase_jobs"
#: Longest wait between two reconnection attempts of the listener, in seconds.
LISTENER_BACKOFF_CAP = 30.0


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


class PgListener:
    """A dedicated asyncpg connection LISTENing on the jobs channel; reconnects on loss."""

    def __init__(self, url: str, queues: Iterable[str], event: asyncio.Event) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._queues = frozenset(queues)
        self._event = event
        self._task: asyncio.Task[None] | None = None

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload in self._queues:
            self._event.set()

    async def start(self) -> None:
        """Listen in the background; reconnects with backoff, polling covers the gaps."""
        self._task = asyncio.create_task(self._run(), name="stratabase-jobs-listener")

    async def _run(self) -> None:
        import asyncpg

        failures = 0  # in a row: the reconnect backs off, and is logged once per outage
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(self._dsn, timeout=10)
                await connection.add_listener(CHANNEL, self._on_notify)
                closed = asyncio.Event()
                connection.add_termination_listener(lambda _c, done=closed: done.set())
                self._event.set()  # we may have missed notifications while (re)connecting
                if failures:
                    logger.warning("job listener reconnected")
                failures = 0
                await closed.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # polling covers us meanwhile
                if not failures:
                    logger.warning("job listener unavailable (%s); polling", type(exc).__name__)
                failures += 1
            finally:
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(connection.close(timeout=2))
            step = min(LISTENER_BACKOFF_CAP, 2.0 ** max(0, failures - 1))
            await asyncio.sleep(step / 2 + random.uniform(0, step / 2))

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
