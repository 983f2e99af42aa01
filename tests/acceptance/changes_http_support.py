"""A real uvicorn server on the test database (SSE needs a streaming HTTP path, which
httpx's ASGI transport does not give), and an SSE reader."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from stratabase.api.app import create_app
from stratabase.db.session import Database
from stratabase.settings import Settings
from tests.acceptance.api_support import NO_LIMITS
from tests.faults_support import free_port

DEADLINE = 60.0


@dataclass
class SseEvent:
    id: int | None
    event: str
    data: dict[str, Any]


@dataclass
class SseReader:
    """Frames of one ``text/event-stream`` response: events, and comments seen."""

    response: httpx.Response
    comments: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lines = self.response.aiter_lines()

    async def next(self) -> SseEvent:
        fields: dict[str, str] = {}
        async with asyncio.timeout(DEADLINE):
            async for line in self._lines:
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                elif line:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                elif "data" in fields:
                    raw_id = fields.get("id")
                    return SseEvent(
                        int(raw_id) if raw_id else None,
                        fields.get("event", "message"),
                        json.loads(fields["data"]),
                    )
        raise AssertionError("the stream ended")

    async def take(self, count: int) -> list[SseEvent]:
        return [await self.next() for _ in range(count)]

    async def wait_comment(self, text: str) -> None:
        async with asyncio.timeout(DEADLINE):
            async for line in self._lines:
                if line.startswith(":") and line[1:].strip() == text:
                    return
        raise AssertionError(f"the stream ended before the comment {text!r}")


async def serve(settings: Settings, db: Database) -> AsyncIterator[str]:
    """The app on a free port (its lifespan opens and closes its Stratabase)."""
    app = create_app(settings, database=db, rate_limits=NO_LIMITS)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(DEADLINE):
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.force_exit = True
        await task
