"""LISTEN on the changes channel: another process committed events, read the outbox now.

A wake-up only, never data: a notification lost while the connection is down costs at most
one poll interval, and the relay sets its wake-up again on every (re)connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

from sqlalchemy.engine import make_url

from stratabase.changes.outbox import CHANNEL

__all__ = ["ChangeListener"]

logger = logging.getLogger("stratabase.changes")

#: Longest wait between two reconnection attempts, in seconds.
BACKOFF_CAP = 30.0


class ChangeListener:
    """A dedicated asyncpg connection LISTENing on ``stratabase_changes``."""

    def __init__(self, url: str, wake: asyncio.Event) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._wake = wake
        self._task: asyncio.Task[None] | None = None
        #: Set once listening (tests wait on it before they rely on notifications).
        self.listening = asyncio.Event()

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, _payload: str) -> None:
        self._wake.set()

    async def start(self) -> None:
        """Listen in the background; a lost connection is retried, never fatal."""
        self._task = asyncio.create_task(self._run(), name="stratabase-changes-listener")

    async def _run(self) -> None:
        import asyncpg

        failures = 0
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(self._dsn, timeout=10)
                await connection.add_listener(CHANNEL, self._on_notify)
                closed = asyncio.Event()
                connection.add_termination_listener(lambda _c, done=closed: done.set())
                self._wake.set()  # we may have missed notifications while (re)connecting
                self.listening.set()
                if failures:
                    logger.warning("change listener reconnected")
                failures = 0
                await closed.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the relay polls meanwhile
                if not failures:
                    logger.warning("change listener unavailable (%s); polling", type(exc).__name__)
                failures += 1
            finally:
                self.listening.clear()
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(connection.close(timeout=2))
            step = min(BACKOFF_CAP, 2.0 ** max(0, failures - 1))
            await asyncio.sleep(step / 2 + random.uniform(0, step / 2))

    async def stop(self) -> None:
        """Stop listening (idempotent); the relay's poll still catches up on anything missed."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
