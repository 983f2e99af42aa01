"""A small typed client for the change feed: ``async for event in client.changes(topics)``.

It reads ``GET /v1/changes`` as Server-Sent Events and, when the connection drops or the
server restarts, reconnects by itself with ``Last-Event-ID``, so the server replays what was
missed: every event arrives once and in order. ``Resync`` items say the server could not
replay (the resume point was pruned, or this client fell behind): refetch your state.

    async with ChangesClient("http://127.0.0.1:8000", token=token) as client:
        async for item in client.changes(["posts", "me"], after=cursor):
            if isinstance(item, Resync):
                ...  # refetch
            else:
                cursor = item.id
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Self

import httpx

from stratabase.changes.feed import Resync
from stratabase.changes.outbox import Change

__all__ = ["ChangesClient", "ChangesRefused"]

logger = logging.getLogger("stratabase.changes.client")

#: HTTP statuses a retry cannot fix (bad topics, no right to them): raised, not retried.
_FINAL = frozenset({400, 401, 403, 404, 422})


class ChangesRefused(Exception):
    """The server refused the subscription (bad topic, missing right); retrying won't help."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class ChangesClient:
    """Subscribes to a Stratabase server's change feed, resuming across reconnections."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        retry_delay: float = 0.5,
        max_retry_delay: float = 15.0,
        timeout: float = 60.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # No read timeout: an idle stream only carries heartbeats (every 15 s by default).
        self._http = http or httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=httpx.Timeout(timeout, read=None)
        )
        self._owns_http = http is None
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        #: The id of the last event received: where a reconnection resumes.
        self.cursor: int | None = None
        #: Connections opened so far (the first, then one per reconnection).
        self.connections = 0

    async def aclose(self) -> None:
        """Close the HTTP client if this object made it (one passed in stays the caller's)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def changes(
        self, topics: Sequence[str], *, after: int | None = None
    ) -> AsyncIterator[Change | Resync]:
        """Events of ``topics`` after ``after`` (None: from now), forever, reconnecting."""
        self.cursor = after
        failures = 0
        while True:
            try:
                async for item in self._connect(topics):
                    failures = 0
                    yield item
                # the server ended the stream (shutdown, or after an overflow resync)
            except (httpx.TransportError, _Retry) as exc:
                logger.info("change stream interrupted (%s); reconnecting", exc)
            failures += 1
            step = min(self._max_retry_delay, self._retry_delay * 2 ** min(failures - 1, 10))
            await asyncio.sleep(random.uniform(step / 2, step))

    async def _connect(self, topics: Sequence[str]) -> AsyncIterator[Change | Resync]:
        params: dict[str, str] = {"topics": ",".join(topics)}
        headers = {"Accept": "text/event-stream"}
        if self.cursor is not None:
            headers["Last-Event-ID"] = str(self.cursor)
        self.connections += 1
        async with self._http.stream("GET", "/v1/changes", params=params, headers=headers) as r:
            if r.status_code in _FINAL:
                await r.aread()
                raise ChangesRefused(r.status_code, _detail(r))
            if r.status_code != 200:
                raise _Retry(f"HTTP {r.status_code}")
            fields: dict[str, str] = {}
            async for line in r.aiter_lines():
                if line.startswith(":"):
                    continue
                if line:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                    continue
                item = self._item(fields)
                fields = {}
                if item is not None:
                    yield item

    def _item(self, fields: dict[str, str]) -> Change | Resync | None:
        if "data" not in fields:
            return None
        data = json.loads(fields["data"])
        if "id" in fields:
            self.cursor = int(fields["id"])
        if fields.get("event") == "resync":
            return Resync(data["reason"], int(data["after"]))
        return Change(
            int(data["id"]),
            data["topic"],
            data["type"],
            dict(data["payload"]),
            datetime.fromisoformat(data["created_at"]),
        )


class _Retry(Exception):
    pass


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:200]
