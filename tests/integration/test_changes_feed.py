"""The change feed as a library user relies on it, on both backends: the outbox is written
with the transaction or not at all, ids reach readers in commit order, a resume replays the
missed events exactly once, private events stay private, and a slow or stale client gets
``resync``."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth.principal import Principal
from stratabase.changes import ChangeFeed, Resync, Topics, outbox
from stratabase.changes.outbox import Change
from stratabase.changes.topics import SignInRequired
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import Role, UserStatus
from stratabase.exceptions import InvalidInput, PermissionDenied
from stratabase.settings import Settings
from tests.integration.changes_support import committed, take, wait_for, write

ALICE = Principal(101, Role.USER, UserStatus.ACTIVE)
BOB = Principal(102, Role.USER, UserStatus.ACTIVE)
ADMIN = Principal(103, Role.ADMIN, UserStatus.ACTIVE)


class Boom(Exception):
    pass


@pytest.fixture
async def feed(settings: Settings, db: Database) -> ChangeFeed:
    feed = ChangeFeed(db, settings)
    yield feed  # type: ignore[misc]
    await feed.stop()


async def test_a_rolled_back_write_emits_nothing(db: Database) -> None:
    async def fails(session: AsyncSession) -> None:
        await outbox.append(session, "post:1", "post.created", {"post_id": 1})
        await session.execute(text("SELECT 1"))
        raise Boom

    with pytest.raises(Boom):
        await db.transaction(fails)
    await write(db, "post:2", "post.created", post_id=2)
    assert [(c.topic, c.type) for c in await committed(db)] == [("post:2", "post.created")]


async def test_a_committed_write_emits_each_event_once_in_order(db: Database) -> None:
    async def work(session: AsyncSession) -> None:
        await outbox.append(session, "post:1", "post.created", {"post_id": 1})
        await outbox.append(session, "comments:1", "comment.created", {"comment_id": 9})

    await db.transaction(work)
    events = await committed(db)
    assert [e.type for e in events] == ["post.created", "comment.created"]
    assert events[0].id < events[1].id and events[1].payload == {"comment_id": 9}


async def test_racing_writers_never_show_a_reader_an_out_of_order_id(db: Database) -> None:
    """Writers whose transactions overlap (each stages its event, then keeps working for a
    random while) commit in another order than they began; a reader polling
    ``id > last`` must still end up with every committed id, each once, increasing."""
    writers, per_writer = 6, 15
    done = asyncio.Event()
    seen: list[int] = []

    async def writer(n: int) -> None:
        rng = random.Random(n)
        for i in range(per_writer):

            async def work(session: AsyncSession, i: int = i) -> None:
                await outbox.append(session, "post:1", "post.updated", {"w": n, "i": i})
                for _ in range(rng.randint(0, 3)):
                    await session.execute(text("SELECT 1"))
                    await asyncio.sleep(0)

            await db.transaction(work)

    async def reader() -> None:
        last = 0
        while True:
            finished = done.is_set()
            async with db.session() as session:
                rows = await outbox.read_after(session, last, 1000)
            for row in rows:
                assert row.id > last
                seen.append(row.id)
                last = row.id
            if finished:
                return
            await asyncio.sleep(0)

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(n) for n in range(writers)))
    done.set()
    await reading
    ids = [event.id for event in await committed(db)]
    assert len(ids) == writers * per_writer
    assert seen == ids, "the reader skipped an id that committed after a larger one"


async def test_a_resume_replays_missed_events_once_then_goes_live(
    db: Database, feed: ChangeFeed
) -> None:
    topics = Topics.parse("posts", None)
    async with feed.subscribe(topics) as live:
        await write(db, "post:1", "post.created")
        feed.wake()
        (first,) = await take(live, 1)
    for n in range(3):  # missed while disconnected
        await write(db, f"post:{n}", "post.updated")
    await write(db, "user:5", "profile.updated")  # not a subscribed topic
    async with feed.subscribe(topics, after=first.id) as resumed:
        await write(db, "post:9", "post.updated")  # live, after the seam
        feed.wake()
        got = await take(resumed, 4)
    posts = [e for e in await committed(db) if e.topic.startswith("post:")]
    assert [e.id for e in got] == [e.id for e in posts[1:]]


async def test_resuming_while_writers_run_loses_and_repeats_nothing(
    db: Database, feed: ChangeFeed
) -> None:
    """Reconnect again and again while events keep coming: across all the connections,
    every event arrives exactly once and in order (no gap, no duplicate at any seam)."""
    topics = Topics.parse("posts", None)
    total = 60
    got: list[int] = []

    async def writing() -> None:
        for n in range(total):
            await write(db, f"post:{n}", "post.updated")
            feed.wake()

    writer = asyncio.create_task(writing())
    cursor = 0
    async with asyncio.timeout(120):
        while len(got) < total:
            async with feed.subscribe(topics, after=cursor) as subscription:
                for _ in range(random.randint(1, 7)):
                    item = await subscription.next(timeout=1.0)
                    if isinstance(item, Change):
                        got.append(item.id)
                        cursor = item.id
                    if len(got) == total:
                        break
    await writer
    assert got == [e.id for e in await committed(db)]


async def test_private_events_never_reach_another_user(db: Database, feed: ChangeFeed) -> None:
    await write(db, f"me:{ALICE.user_id}", "wallet.transfer", kind="transfer")
    await write(db, "post:7", "post.created", author_id=ALICE.user_id, public=False)
    await write(db, "jobs", "job.succeeded", job_id=1)
    await write(db, "post:8", "post.published", author_id=ALICE.user_id, public=True)

    async def seen_by(principal: Principal | None, names: str) -> list[str]:
        page = await feed.page(Topics.parse(names, principal), after=0, limit=100)
        return [e.type for e in page.events]

    assert await seen_by(ALICE, "me,posts") == ["wallet.transfer", "post.created", "post.published"]
    assert await seen_by(BOB, "me,posts") == ["post.published"]
    assert await seen_by(None, "posts,post:7") == ["post.published"]
    assert await seen_by(ADMIN, "jobs") == ["job.succeeded"]
    with pytest.raises(SignInRequired):
        Topics.parse("me", None)
    with pytest.raises(PermissionDenied):
        Topics.parse("jobs", BOB)
    with pytest.raises(PermissionDenied):
        Topics.parse("moderation", BOB)
    with pytest.raises(InvalidInput):
        Topics.parse("posts,me:101", ALICE)  # nobody names another's private topic


async def test_a_slow_subscriber_gets_resync_and_ends(settings: Settings, db: Database) -> None:
    feed = ChangeFeed(db, settings.model_copy(update={"changes_queue_size": 3}))
    try:
        async with feed.subscribe(Topics.parse("posts", None)) as subscription:
            for n in range(5):
                await write(db, f"post:{n}", "post.updated")
            feed.wake()
            await wait_for(lambda: subscription.overflowed, "the queue to overflow")
            items = [item async for item in subscription]
        events = await committed(db)
        # what fitted in the queue, then resync naming the last one delivered (to resume from)
        assert items[:-1] == events[:3]
        assert items[-1] == Resync("overflow", events[2].id)
    finally:
        await feed.stop()


async def test_a_resume_point_past_the_retention_gets_resync_then_live(
    db: Database, feed: ChangeFeed
) -> None:
    await write(db, "post:1", "post.created")
    await write(db, "post:1", "post.updated")
    first, second = await committed(db)
    later = utcnow() + timedelta(days=8)

    async def prune(session: AsyncSession) -> int:
        return await outbox.prune(session, timedelta(days=7), now=later)

    assert await db.transaction(prune) == 2
    async with feed.subscribe(Topics.parse("posts", None), after=first.id) as subscription:
        (resync,) = await take(subscription, 1)
        assert resync == Resync("retention", second.id)
        await write(db, "post:1", "post.archived")
        feed.wake()
        (live,) = await take(subscription, 1)
    assert live.type == "post.archived"
    # a cursor at the newest pruned event is still whole: nothing after it was pruned
    async with feed.subscribe(Topics.parse("posts", None), after=second.id) as subscription:
        (again,) = await take(subscription, 1)
    assert again.id == live.id


async def test_one_relay_query_serves_every_subscriber(db: Database, feed: ChangeFeed) -> None:
    topics = Topics.parse("posts", None)
    async with contextlib_stack(feed, topics, 50) as subscriptions:
        polls = feed.polls
        await write(db, "post:1", "post.created")
        feed.wake()
        for subscription in subscriptions:
            (event,) = await take(subscription, 1)
            assert event.type == "post.created"
        assert feed.polls - polls <= 2  # one read per wake-up, not one per subscriber


def contextlib_stack(feed: ChangeFeed, topics: Topics, count: int):  # type: ignore[no-untyped-def]
    import contextlib

    @contextlib.asynccontextmanager
    async def stack():  # type: ignore[no-untyped-def]
        async with contextlib.AsyncExitStack() as exits:
            yield [await exits.enter_async_context(feed.subscribe(topics)) for _ in range(count)]

    return stack()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_dropped_listener_loses_nothing(settings: Settings, db: Database) -> None:
    """Events from another process arrive by NOTIFY alone (no polling here); while the
    listening connection is killed and comes back, the relay catches up from the table."""
    feed = ChangeFeed(db, settings.model_copy(update={"changes_poll_seconds": 3600}))
    other = Database(settings)  # another process: its commits do not wake this one
    try:
        async with feed.subscribe(Topics.parse("posts", None)) as subscription:
            listener = feed._listener
            assert listener is not None
            await wait_for(listener.listening.is_set, "the listener")  # type: ignore[attr-defined]
            await write(other, "post:1", "post.created")
            (first,) = await take(subscription, 1)
            async with db.session() as session:
                killed = await session.scalar(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                    )
                )
            assert killed == 1
            await write(other, "post:2", "post.updated")  # possibly while nobody listens
            await write(other, "post:3", "post.updated")
            rest = await take(subscription, 2)
    finally:
        await feed.stop()
        await other.dispose()
    assert [first.id, *(e.id for e in rest)] == [e.id for e in await committed(db)]


async def test_job_state_changes_reach_admins_only(db: Database, feed: ChangeFeed) -> None:
    from stratabase.jobs import queue
    from stratabase.schemas.jobs import JobCreate

    async def run(session: AsyncSession) -> list[int]:
        ids = await queue.enqueue_many(session, [JobCreate(task="noop"), JobCreate(task="noop")])
        claimed = await queue.claim(
            session, queues=["default"], owner="w", limit=2, lease=timedelta(seconds=30)
        )
        await queue.ack(session, owner="w", ids=[claimed[0].id])
        await queue.fail(
            session, owner="w", job_id=claimed[1].id, error="x", retry_at=None, permanent=True
        )
        return ids

    first, second = await db.transaction(run)
    page = await feed.page(Topics.parse("jobs", ADMIN), after=0, limit=10)
    assert [(e.type, e.payload["job_id"]) for e in page.events] == [
        ("job.succeeded", first),
        ("job.failed", second),
    ]
    assert (await feed.page(Topics.parse("posts", BOB), after=0, limit=10)).events == []


async def test_maintenance_prune_applies_the_retention(
    settings: Settings, db: Database, feed: ChangeFeed
) -> None:
    from stratabase.jobs.queue import ClaimedJob
    from stratabase.jobs.registry import TaskContext
    from stratabase.jobs.tasks.maintenance import prune

    await write(db, "post:1", "post.created")
    (old,) = await committed(db)

    async def age(session: AsyncSession) -> None:
        await session.execute(
            text("UPDATE change_events SET created_at = :at"),
            {"at": utcnow() - timedelta(days=settings.changes_retention_days + 1)},
        )

    await db.transaction(age)
    await write(db, "post:1", "post.updated")
    context = TaskContext(db, settings, ClaimedJob(1, "maintenance", "maintenance.prune", {}, 1, 3))
    outcome = await prune(context, {})
    assert outcome is not None and outcome["changes_deleted"] == 1
    (kept,) = await committed(db)
    assert kept.id > old.id
    async with feed.subscribe(Topics.parse("posts", None), after=0) as subscription:
        (resync,) = await take(subscription, 1)
    assert resync == Resync("retention", kept.id)
