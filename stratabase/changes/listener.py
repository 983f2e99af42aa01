"""LISTEN on the changes channel: another process committed events, read the outbox now.

A wake-up only, never data: a notification lost while the connection is down costs at most
one poll interval, and the relay sets its wake-up again on every (re)connection.
"""

from __future__ import annotations

import asyncio
import logging

from stratabase.changes.outbox import CHANNEL
from stratabase.db.listen import Listener

__all__ = ["ChangeListener"]

logger = logging.getLogger("stratabase.changes")


class ChangeListener(Listener):
    """A dedicated asyncpg connection LISTENing on ``stratabase_changes`` (``db/listen.py``):
    every notification, and every (re)connection, sets ``wake``."""

    def __init__(self, url: str, wake: asyncio.Event) -> None:
        super().__init__(
            url,
            CHANNEL,
            on_payload=lambda _payload: wake.set(),
            on_connect=wake.set,
            name="change listener",
            logger=logger,
        )
