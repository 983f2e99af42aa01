"""LISTEN on a PostgreSQL channel from a dedicated connection that comes back by itself.

The primitive under the job workers' wake-ups (``jobs/notify.py``) and the change feed's
relay (``changes/listener.py``). A notification is a hint, never data: whoever listens also
polls, so one lost while the connection is down costs at most a poll interval. That is why
``on_connect`` runs on every (re)connection: what was missed meanwhile is read at once.
A lost connection is retried with jittered exponential backoff, logged once per outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import make_url

__all__ = ["BACKOFF_CAP", "Listener"]

#: Longest wait between two reconnection attempts, in seconds.
BACKOFF_CAP = 30.0


class Listener:
    """A dedicated asyncpg connection LISTENing on ``channel``; reconnects on loss.

    ``on_payload`` gets each notification's payload; ``on_connect`` runs once listening,
    after every (re)connection. ``name`` names the task and the log lines (``"job
    listener"``), ``logger`` is the caller's.
    """

    def __init__(
        self,
        url: str,
        channel: str,
        *,
        on_payload: Callable[[str], None],
        on_connect: Callable[[], None],
        name: str,
        logger: logging.Logger,
    ) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._channel = channel
        self._on_payload = on_payload
        self._on_connect = on_connect
        self._name = name
        self._logger = logger
        self._task: asyncio.Task[None] | None = None
        #: Set while listening (tests wait on it before they rely on notifications).
        self.listening = asyncio.Event()

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._on_payload(payload)

    async def start(self) -> None:
        """Listen in the background; a lost connection is retried, never fatal."""
        self._task = asyncio.create_task(self._run(), name=f"stratabase-{self._name}")

    async def _run(self) -> None:
        import asyncpg

        failures = 0  # in a row: the reconnect backs off, and is logged once per outage
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(self._dsn, timeout=10)
                await connection.add_listener(self._channel, self._on_notify)
                closed = asyncio.Event()
                connection.add_termination_listener(lambda _c, done=closed: done.set())
                self._on_connect()  # notifications may have been missed while (re)connecting
                self.listening.set()
                if failures:
                    self._logger.warning("%s reconnected", self._name)
                failures = 0
                await closed.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the caller polls meanwhile
                if not failures:
                    self._logger.warning(
                        "%s unavailable (%s); polling", self._name, type(exc).__name__
                    )
                failures += 1
            finally:
                self.listening.clear()
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(connection.close(timeout=2))
            step = min(BACKOFF_CAP, 2.0 ** max(0, failures - 1))
            await asyncio.sleep(step / 2 + random.uniform(0, step / 2))

    async def stop(self) -> None:
        """Stop listening and close the connection (idempotent)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
