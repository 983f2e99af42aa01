"""A real uvicorn server on the test database (SSE needs a streaming HTTP path, which
httpx's ASGI transport does not give), and an SSE reader."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Self

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


async def serve(settings: Settings, db: Database, port: int | None = None) -> AsyncIterator[str]:
    """The app on ``port`` (default: a free one); its lifespan opens and closes its root."""
    app = create_app(settings, database=db, rate_limits=NO_LIMITS)
    port = port or free_port()
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


class ServeProcess:
    """``stratabase serve`` in a subprocess: a real API process to restart or run twice."""

    def __init__(self, port: int | None = None, **settings: str) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._settings = {"port": str(self.port), **settings}
        self._process: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
        env.update({f"STRATABASE_{k.upper()}": v for k, v in self._settings.items()})
        return subprocess.Popen(
            [sys.executable, "-m", "stratabase", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    async def start(self) -> Self:
        self._process = self._spawn()
        async with httpx.AsyncClient(base_url=self.base_url, trust_env=False) as http:
            async with asyncio.timeout(DEADLINE):
                while True:
                    try:
                        await http.get("/health", timeout=2)
                        return self
                    except httpx.TransportError:
                        process = self._process
                        assert process.poll() is None, process.stderr and process.stderr.read()
                        await asyncio.sleep(0.1)

    def kill(self) -> None:
        """Stop it as a crash would (no goodbye to its clients)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=30)
            self._process = None

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            finally:
                self._process.kill()
                self._process = None
