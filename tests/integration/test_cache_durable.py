"""No invalidation lost to a process death (docs/cache.md, "When Redis is in trouble").

A private redis-server *with* an append-only file plays the shared Redis: killed and started
again on the same files, it comes back holding the entries written before the outage, as a
production Redis with persistence (or one behind a network partition) does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.cache import SmartCache, build_cache
from stratabase.cache.keys import RedisKeys
from stratabase.cache.two_tier import TwoTierStore
from stratabase.content.reads import body_key
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.models import CacheInvalidation, Post
from stratabase.settings import Settings
from tests.faults_support import RedisServer
from tests.integration.cache_wiring_support import serve

DEADLINE = 20.0


@pytest.fixture
def persistent_redis(redis_url: str, tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(persist_dir=tmp_path)
    server.start()
    yield server
    server.stop()


async def abandon(cache: SmartCache) -> None:
    """Simulate ``kill -9`` of the process owning ``cache``: its background tasks stop and
    its in-memory state (pending invalidations included) is gone; nothing is flushed,
    replayed or closed."""
    store = cache.store
    assert isinstance(store, TwoTierStore)
    store._closing = True
    tasks: list[asyncio.Task[Any] | None] = [store._listener, store._replay, store._syncing]
    if cache.sync is not None:
        tasks += [cache.sync._check, cache.sync._orphans, cache.sync._ack_task]
        cache.sync._acks.clear()
    for task in tasks:
        if task is not None:
            task.cancel()
    store._pending_keys.clear()
    store._pending_tags.clear()
    store.remote.breaker._on_recover.clear()  # a dead process replays nothing


async def _title(api: Any, url: str) -> str:
    response = await api.http.get(url)
    assert response.status_code == 200, response.text
    return str(response.json()["title"])


async def _outbox_rows(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(CacheInvalidation)) or 0)


async def _outbox_empties(db: Database) -> None:
    """Delivered rows are deleted in batches, a moment after delivery."""
    deadline = time.monotonic() + DEADLINE
    while await _outbox_rows(db):
        assert time.monotonic() < deadline, "delivered outbox rows were not deleted"
        await asyncio.sleep(0.05)


async def test_invalidations_of_a_writer_killed_during_a_redis_outage_are_not_lost(
    settings: Settings, db: Database, persistent_redis: RedisServer
) -> None:
    shared = settings.model_copy(
        update={"redis_url": persistent_redis.url, "redis_prefix": "sb-durable:"}
    )
    first, second = build_cache(shared), build_cache(shared)
    third: SmartCache | None = None
    try:
        for cache in (first, second):
            assert isinstance(cache.store, TwoTierStore)
            assert await cache.store.wait_subscribed()
        async with serve(shared, db, first) as a, serve(shared, db, second) as b:
            author = await a.user()
            post = await a.post(author, title="Old title")
            url = f"/v1/posts/{post['id']}"
            for _ in range(2):
                assert await _title(b, url) == "Old title"
                assert await _title(a, url) == "Old title"

            persistent_redis.stop()  # the outage (kill -9)
            response = await a.http.patch(url, json={"title": "New title"}, headers=author.headers)
            assert response.status_code == 200, response.text
            assert first.store.pending >= 1  # type: ignore[attr-defined]
            await abandon(first)  # the writer dies with its pending invalidations

            persistent_redis.start()
            raw = Redis.from_url(persistent_redis.url)
            try:  # the premise: Redis came back holding the pre-outage page
                assert await raw.exists(RedisKeys("sb-durable:").data(body_key(post["id"])))
            finally:
                await raw.aclose()

            # B, which saw the outage, never serves the old title again.
            deadline = time.monotonic() + DEADLINE
            store = second.store
            assert isinstance(store, TwoTierStore)
            while not (store.channel_ok and store.synced):
                assert await _title(b, url) == "New title"
                assert time.monotonic() < deadline, "B did not reconnect to Redis in time"
                await asyncio.sleep(0.05)
            for _ in range(5):
                assert await _title(b, url) == "New title"

            # A' (the writer restarted): a new process, new cache, same Redis and database.
            third = build_cache(shared)
            async with serve(shared, db, third) as a2:
                for _ in range(5):
                    assert await _title(a2, url) == "New title"
            await _outbox_empties(db)  # replayed, then deleted
    finally:
        for survivor in (second, third):
            if survivor is not None:
                await survivor.close()


async def test_a_leftover_row_of_a_dead_writer_is_replayed_while_redis_stays_up(
    settings: Settings, db: Database, redis_url: str, redis_prefix: str
) -> None:
    """The writer committed, then died before telling Redis (Redis up all along): its outbox
    row is replayed by another process's periodic check."""
    shared = settings.model_copy(update={"redis_url": redis_url, "redis_prefix": redis_prefix})
    cache = build_cache(shared)
    now = [0.0]
    try:
        async with serve(shared, db, cache) as api:
            sync = cache.bind(db, clock=lambda: now[0], orphan_interval=10.0, orphan_age=30.0)
            author = await api.user()
            post = await api.post(author, title="Old title")
            url = f"/v1/posts/{post['id']}"
            assert await _title(api, url) == "Old title"

            async def dead_writer(session: AsyncSession) -> None:
                await session.execute(
                    update(Post).where(Post.id == post["id"]).values(title="New title")
                )
                session.add(
                    CacheInvalidation(
                        id="deadwriter",
                        tags=[f"post:{post['id']}"],
                        keys=[],
                        created_at=utcnow() - timedelta(seconds=60),
                    )
                )

            await db.transaction(dead_writer)
            assert await _title(api, url) == "Old title"  # nobody has told Redis yet
            now[0] += 11.0  # the next periodic check is due
            await sync.check()
            assert sync._check is not None
            await sync._check
            assert sync._orphans is not None  # the replay runs apart from the read
            await sync._orphans
            assert await _title(api, url) == "New title"
            await _outbox_empties(db)
    finally:
        await cache.close()


async def test_writes_record_and_then_delete_their_outbox_rows(
    settings: Settings, db: Database, redis_url: str, redis_prefix: str
) -> None:
    """Each write's invalidation is in the outbox with the write, and gone once delivered."""
    shared = settings.model_copy(update={"redis_url": redis_url, "redis_prefix": redis_prefix})
    cache = build_cache(shared)
    try:
        async with serve(shared, db, cache) as api:
            cache.bind(db, ack_delay=3600.0)  # deletions wait: the rows can be seen
            author = await api.user()
            await api.post(author, title="A post")
            assert await _outbox_rows(db) >= 1
            assert cache.sync is not None
            await cache.sync.close()  # a clean shutdown deletes what was delivered
            await _outbox_empties(db)
    finally:
        await cache.close()


async def test_a_first_read_inside_a_write_transaction_does_not_wait_on_itself(
    settings: Settings, db: Database, redis_url: str, redis_prefix: str
) -> None:
    """The outbox replay before the first Redis read deletes rows in a transaction of its
    own; on SQLite that needs the write lock the reading transaction holds. The read must
    go on (from its loader) at once instead of waiting for the lock it holds itself."""
    shared = settings.model_copy(update={"redis_url": redis_url, "redis_prefix": redis_prefix})
    cache = build_cache(shared)
    store = cache.store
    assert isinstance(store, TwoTierStore)
    try:
        cache.bind(db)

        async def leftover(session: AsyncSession) -> None:
            session.add(CacheInvalidation(id="left", tags=["post:1"], keys=[], created_at=utcnow()))

        await db.transaction(leftover)

        async def work(session: AsyncSession) -> Any:
            return await cache.get_or_load("custom:inside", lambda: {"v": 1}, session=session)

        async with asyncio.timeout(DEADLINE):
            started = time.monotonic()
            assert await db.transaction(work) == {"v": 1}
            # Bounded by SYNC_WAIT (0.5 s), not by the write lock's acquire timeout (10 s).
            assert time.monotonic() - started < 5.0
            while not store.synced:  # the replay finishes once the lock is free
                assert await cache.get_or_load("custom:after", lambda: {"v": 2}) == {"v": 2}
                await asyncio.sleep(0.05)
        await _outbox_empties(db)
    finally:
        await cache.close()
