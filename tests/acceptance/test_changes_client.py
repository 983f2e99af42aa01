"""The Python client (``stratabase.changes.client``) against real ``serve`` processes, on
both backends: it resumes by itself after the server restarts, missing and repeating
nothing."""

from __future__ import annotations

import asyncio
import contextlib

from stratabase.changes import Change, Resync
from stratabase.changes.client import ChangesClient, ChangesRefused
from stratabase.db.session import Database
from stratabase.settings import Settings
from tests.acceptance.changes_http_support import DEADLINE, ServeProcess
from tests.integration.changes_support import committed, write

#: Cross-process wake-ups on SQLite are the relay's poll: keep it short for the test.
FAST_POLL = "0.05"


async def test_the_client_resumes_after_the_server_restarts(
    settings: Settings, db: Database
) -> None:
    server = ServeProcess(database_url=settings.database_url, changes_poll_seconds=FAST_POLL)
    await server.start()
    got: asyncio.Queue[Change | Resync] = asyncio.Queue()
    client = ChangesClient(server.base_url, retry_delay=0.05, max_retry_delay=0.5)

    async def listen() -> None:
        async for item in client.changes(["posts"], after=0):
            await got.put(item)

    async def next_items(count: int) -> list[Change | Resync]:
        async with asyncio.timeout(DEADLINE):
            return [await got.get() for _ in range(count)]

    listening = asyncio.create_task(listen())
    try:
        await write(db, "post:1", "post.created")
        before = await next_items(1)
        server.kill()  # a crash: the stream just breaks
        for n in range(3):
            await write(db, f"post:{n}", "post.updated")  # while no server runs
        await server.start()
        after = await next_items(3)
        await write(db, "post:9", "post.archived")
        live = await next_items(1)
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        await client.aclose()
        server.stop()
    received = [item for item in [*before, *after, *live] if isinstance(item, Change)]
    assert [item.id for item in received] == [event.id for event in await committed(db)]
    assert client.connections >= 2


async def test_the_client_does_not_retry_a_refused_subscription(settings: Settings) -> None:
    server = await ServeProcess(database_url=settings.database_url).start()
    try:
        async with ChangesClient(server.base_url) as client:
            try:
                async for _ in client.changes(["me"]):
                    pass
            except ChangesRefused as refused:
                assert refused.status == 401
            else:
                raise AssertionError("a subscription to 'me' without a token was accepted")
        assert client.connections == 1
    finally:
        server.stop()
