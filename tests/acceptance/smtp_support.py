"""A real SMTP server for a test (``aiosmtpd`` on a free local port), keeping what it got."""

from __future__ import annotations

import asyncio
import email
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

TOKEN = re.compile(r"^([A-Za-z0-9_-]{43})\r?$", re.MULTILINE)


@dataclass
class Inbox:
    """The messages the server accepted, in order."""

    port: int
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    async def wait_for(self, count: int, timeout: float = 60.0) -> list[Message]:
        """The first ``count`` messages, waiting (by condition) until they arrived."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.messages) < count:
            if loop.time() > deadline:
                raise AssertionError(f"{len(self.messages)} messages, expected {count}")
            await asyncio.sleep(0.02)
        return self.messages[:count]


def token_in(message: Message) -> str:
    """The single-use token a message carries."""
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    found = TOKEN.search(body.decode())
    assert found is not None, body
    return found.group(1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server() -> Iterator[Inbox]:
    """An SMTP server on 127.0.0.1 for the duration of the block."""
    inbox = Inbox(_free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
