"""Two real API processes on one database (PostgreSQL + Redis, or one SQLite file): a client
that resumes on the other process gets what it missed exactly once, and events written
through one process reach subscribers of the other."""

from __future__ import annotations

import httpx

from stratabase.db.session import Database
from stratabase.settings import Settings
from tests.acceptance.api_support import Api
from tests.acceptance.changes_http_support import ServeProcess, SseReader
from tests.integration.changes_support import committed


async def test_resume_on_a_second_process_is_exact_and_live_events_cross_over(
    settings: Settings, db: Database, backend: str, redis_url: str, redis_prefix: str
) -> None:
    shared = {"database_url": settings.database_url, "changes_poll_seconds": "0.05"}
    if backend == "postgres":  # production shape: PostgreSQL + Redis
        shared |= {"redis_url": redis_url, "redis_prefix": redis_prefix}
        shared["changes_poll_seconds"] = "3600"  # only LISTEN/NOTIFY can wake the relays
    first = await ServeProcess(**shared).start()
    second = await ServeProcess(**shared).start()
    try:
        async with (
            httpx.AsyncClient(base_url=first.base_url, timeout=60) as one,
            httpx.AsyncClient(base_url=second.base_url, timeout=60) as two,
        ):
            api_one, api_two = Api(one, db), Api(two, db)
            alice = await api_one.user()
            stream = {"Accept": "text/event-stream"}
            params = {"topics": "posts", "after": "0"}
            async with one.stream("GET", "/v1/changes", params=params, headers=stream) as r:
                await api_one.post(alice, title="seen")
                (seen,) = await SseReader(r).take(1)
            missed = [
                await api_two.post(alice, title="missed on two"),
                await api_one.post(alice, title="missed on one"),
            ]
            resume = {**stream, "Last-Event-ID": str(seen.id)}
            async with two.stream(
                "GET", "/v1/changes", params={"topics": "posts"}, headers=resume
            ) as r:
                reader = SseReader(r)
                replayed = await reader.take(2)
                live_post = await api_one.post(alice, title="live, written through one")
                (live,) = await reader.take(1)
    finally:
        first.stop()
        second.stop()
    assert [e.data["payload"]["post_id"] for e in replayed] == [p["id"] for p in missed]
    assert live.data["payload"]["post_id"] == live_post["id"]
    assert [seen.id, *(e.id for e in replayed), live.id] == [e.id for e in await committed(db)]
