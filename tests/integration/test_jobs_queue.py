"""The queue in one process, on both backends: enqueue, unique keys, claims, leases, retries,
dead jobs, cancel/retry, per-queue limits, graceful shutdown, periodic jobs, pruning."""

from __future__ import annotations

import asyncio
import itertools
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import JobStatus
from stratabase.exceptions import InvalidInput
from stratabase.jobs import queries, queue
from stratabase.jobs.errors import PermanentJobError
from stratabase.jobs.registry import Registry, RetryPolicy, TaskContext, TaskSpec
from stratabase.jobs.schedule import Periodic
from stratabase.jobs.service import JobService
from stratabase.jobs.worker import Worker, WorkerConfig, in_background
from stratabase.models.jobs import Job
from stratabase.schemas.jobs import JobCreate
from stratabase.settings import Settings

MINUTE = timedelta(seconds=60)
FAST = WorkerConfig(
    concurrency=4, lease_seconds=30, poll_interval=0.05, flush_interval=0.01, run_periodic=False
)


async def _add(db: Database, spec: JobCreate) -> int:
    job_id = await JobService(db).enqueue(None, spec)
    assert job_id is not None
    return job_id


async def _job(db: Database, job_id: int) -> Job:
    async with db.session() as session:
        job = await session.get(Job, job_id)
    assert job is not None
    return job


async def _until(predicate: Any, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def _status(db: Database, job_id: int) -> JobStatus:
    return (await _job(db, job_id)).status


def _worker(
    db: Database, settings: Settings, registry: Registry, **config: Any
) -> AbstractAsyncContextManager[Worker]:
    return in_background(_make_worker(db, settings, registry, **config))


def _make_worker(db: Database, settings: Settings, registry: Registry, **config: Any) -> Worker:
    return Worker(db, settings, registry, WorkerConfig(**{**FAST.__dict__, **config}))


async def test_unique_key_dedups_only_while_queued_or_running(db: Database) -> None:
    spec = JobCreate(task="t", unique_key="only-one")
    first = await JobService(db).enqueue(None, spec)
    assert first is not None
    assert await JobService(db).enqueue(None, spec) is None
    batch = [JobCreate(task="t", unique_key="k2"), JobCreate(task="t", unique_key="k2")]
    assert await JobService(db).enqueue_batch(None, batch) == 1

    claimed = await db.transaction(
        lambda s: queue.claim(s, queues=["default"], owner="w", limit=10, lease=MINUTE)
    )
    assert {job.id for job in claimed} >= {first}
    assert await JobService(db).enqueue(None, spec) is None  # running still counts as active
    await db.transaction(lambda s: queue.ack(s, owner="w", ids=[first]))
    again = await JobService(db).enqueue(None, spec)
    assert again is not None and again != first


async def test_claim_order_priority_then_run_at_and_future_jobs_wait(db: Database) -> None:
    low = await _add(db, JobCreate(task="t", priority=5))
    high = await _add(db, JobCreate(task="t", priority=-5))
    later = await _add(db, JobCreate(task="t", delay_seconds=3600))
    other_queue = await _add(db, JobCreate(task="t", queue="elsewhere"))
    claimed = await db.transaction(
        lambda s: queue.claim(s, queues=["default"], owner="w", limit=1, lease=MINUTE)
    )
    assert [job.id for job in claimed] == [high]
    rest = await db.transaction(
        lambda s: queue.claim(s, queues=["default"], owner="w", limit=10, lease=MINUTE)
    )
    assert [job.id for job in rest] == [low]
    assert {later, other_queue}.isdisjoint(job.id for job in claimed + rest)
    running = await _job(db, high)
    assert running.status == JobStatus.RUNNING and running.attempts == 1
    assert running.lease_owner == "w" and running.lease_expires_at is not None


async def test_expired_lease_is_requeued_and_the_stale_owner_cannot_ack(db: Database) -> None:
    job_id = await _add(db, JobCreate(task="t", max_attempts=3))
    await db.transaction(
        lambda s: queue.claim(s, queues=["default"], owner="dead", limit=1, lease=MINUTE)
    )
    assert await db.transaction(lambda s: queue.reap_expired(s)) == []  # the lease holds
    later = utcnow() + MINUTE + timedelta(seconds=1)  # the reaper's clock, past the lease
    assert await db.transaction(lambda s: queue.reap_expired(s, now=later)) == [
        (job_id, JobStatus.QUEUED)
    ]
    job = await _job(db, job_id)
    assert job.status == JobStatus.QUEUED and job.lease_owner is None
    assert "lease expired" in (job.error or "")
    claimed = await db.transaction(  # on the same clock: requeued to run at once
        lambda s: queue.claim(
            s, queues=["default"], owner="alive", limit=1, lease=MINUTE, now=later
        )
    )
    assert claimed[0].attempts == 2
    assert await db.transaction(lambda s: queue.ack(s, owner="dead", ids=[job_id])) == 0
    assert await db.transaction(lambda s: queue.ack(s, owner="alive", ids=[job_id])) == 1
    assert await _status(db, job_id) == JobStatus.SUCCEEDED


async def test_expired_lease_out_of_attempts_is_dead(db: Database) -> None:
    job_id = await _add(db, JobCreate(task="t", max_attempts=1))
    await db.transaction(
        lambda s: queue.claim(s, queues=["default"], owner="x", limit=1, lease=timedelta(0))
    )
    later = utcnow() + timedelta(seconds=1)
    assert await db.transaction(lambda s: queue.reap_expired(s, now=later)) == [
        (job_id, JobStatus.DEAD)
    ]


async def test_retries_back_off_then_dead_with_traceback(db: Database, settings: Settings) -> None:
    registry = Registry()
    calls: list[datetime] = []

    async def flaky(ctx: TaskContext, payload: dict[str, Any]) -> None:
        calls.append(utcnow())
        raise RuntimeError(f"boom {ctx.job.attempts}")

    registry.add(TaskSpec("flaky", flaky, max_attempts=3, retry=RetryPolicy(0.2, 0.3)))
    job_id = await _add(db, JobCreate(task="flaky", max_attempts=3))
    async with _worker(db, settings, registry):
        await _until(lambda: _dead(db, job_id))
    job = await _job(db, job_id)
    assert job.attempts == 3 and len(calls) == 3
    assert "Traceback" in (job.error or "") and "RuntimeError: boom 3" in (job.error or "")
    assert job.finished_at is not None
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(calls)]
    assert gaps[0] >= 0.1 - 0.02  # ≥ half the first ceiling (0.2 s)
    assert gaps[1] >= 0.15 - 0.02  # ≥ half the capped second ceiling (0.3 s)


async def _dead(db: Database, job_id: int) -> bool:
    return await _status(db, job_id) == JobStatus.DEAD


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(base_seconds=1, cap_seconds=10)
    for attempt, ceiling in ((1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (40, 10)):
        delays = {policy.delay(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered


async def test_permanent_error_fails_at_once_and_unknown_task_retries(
    db: Database, settings: Settings
) -> None:
    registry = Registry()

    async def refuse(_ctx: TaskContext, _payload: dict[str, Any]) -> None:
        raise PermanentJobError("cannot ever work")

    registry.add(TaskSpec("refuse", refuse))
    failed = await _add(db, JobCreate(task="refuse", max_attempts=5))
    unknown = await _add(db, JobCreate(task="nobody-knows", max_attempts=1))
    async with _worker(db, settings, registry, queues=("default",)):
        await _until(lambda: _in(db, failed, JobStatus.FAILED))
        await _until(lambda: _in(db, unknown, JobStatus.DEAD))
    assert (await _job(db, failed)).attempts == 1
    assert "UnknownTask" in ((await _job(db, unknown)).error or "")


async def _in(db: Database, job_id: int, status: JobStatus) -> bool:
    return await _status(db, job_id) == status


async def test_retry_and_cancel_by_id_and_filter(db: Database) -> None:
    a = await _add(db, JobCreate(task="t", queue="q1"))
    b = await _add(db, JobCreate(task="t", queue="q1"))
    c = await _add(db, JobCreate(task="u", queue="q2"))
    assert await JobService(db).cancel_where(None, ids=[a]) == [a]
    assert await JobService(db).cancel_where(None, queue="q1") == [b]
    with pytest.raises(InvalidInput):
        await JobService(db).cancel_where(None)
    with pytest.raises(InvalidInput):
        await JobService(db).retry_where(None, ids=[c], statuses=[JobStatus.QUEUED])
    assert await JobService(db).retry_where(None, ids=[c]) == []  # queued: nothing to retry
    assert await JobService(db).retry_where(None, task="t") == [a, b]
    job = await _job(db, a)
    assert job.status == JobStatus.QUEUED and job.attempts == 0 and job.finished_at is None


async def test_cancel_stops_a_running_handler_at_its_heartbeat(
    db: Database, settings: Settings
) -> None:
    registry = Registry()
    started = asyncio.Event()
    stopped = asyncio.Event()

    async def long(_ctx: TaskContext, _payload: dict[str, Any]) -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            stopped.set()
            raise

    registry.add(TaskSpec("long", long))
    job_id = await _add(db, JobCreate(task="long"))
    async with _worker(db, settings, registry, lease_seconds=0.6):
        await asyncio.wait_for(started.wait(), 60)
        assert await JobService(db).cancel_where(None, ids=[job_id]) == [job_id]
        await asyncio.wait_for(stopped.wait(), 60)
    assert await _status(db, job_id) == JobStatus.CANCELLED


async def test_per_queue_limit_caps_concurrency(db: Database, settings: Settings) -> None:
    registry = Registry()
    running = {"now": 0, "max": 0}
    paired = asyncio.Event()  # set once two jobs ran at once: the limit was reached

    async def track(_ctx: TaskContext, _payload: dict[str, Any]) -> None:
        running["now"] += 1
        running["max"] = max(running["max"], running["now"])
        if running["now"] >= 2:
            paired.set()
        await asyncio.wait_for(paired.wait(), 60)  # hold the slot until a second job runs
        running["now"] -= 1

    registry.add(TaskSpec("track", track, queue="narrow"))
    await JobService(db).enqueue_batch(
        None, [JobCreate(task="track", queue="narrow") for _ in range(6)]
    )
    async with _worker(db, settings, registry, concurrency=8, queue_limits={"narrow": 2}):
        await _until(lambda: _count(db, JobStatus.SUCCEEDED, 6))
    assert running["max"] == 2


async def _count(db: Database, status: JobStatus, expected: int) -> bool:
    async with db.session() as session:
        rows = (await session.execute(select(Job.id).where(Job.status == status))).all()
    return len(rows) == expected


async def test_graceful_shutdown_finishes_short_jobs_and_releases_long_ones(
    db: Database, settings: Settings
) -> None:
    registry = Registry()
    started: set[int] = set()

    async def sleeper(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
        started.add(ctx.job.id)
        await asyncio.sleep(payload["seconds"])
        return {"slept": payload["seconds"]}

    registry.add(TaskSpec("sleep", sleeper))
    short = await _add(db, JobCreate(task="sleep", payload={"seconds": 0.3}))
    long = await _add(db, JobCreate(task="sleep", payload={"seconds": 30}))
    # generous for a busy machine: the short job must finish within it, the long one never
    running = _worker(db, settings, registry, shutdown_timeout=10.0)
    async with running:
        await _until(lambda: _started(started, {short, long}))
    done = await _job(db, short)
    assert done.status == JobStatus.SUCCEEDED and done.result == {"slept": 0.3}
    released = await _job(db, long)
    assert released.status == JobStatus.QUEUED
    assert released.attempts == 0 and released.lease_owner is None


async def _started(started: set[int], ids: set[int]) -> bool:
    return ids <= started


async def test_periodic_jobs_are_enqueued_once_per_slot(db: Database, settings: Settings) -> None:
    registry = Registry()
    registry.add(TaskSpec("tick", _noop))
    registry.add_periodic(Periodic("tick", "tick", every=3600))
    workers = [_make_worker(db, settings, registry, run_periodic=True) for _ in range(2)]
    scheduled = [0, 0]  # slots each worker has finished trying to enqueue
    for index, worker in enumerate(workers):
        original = worker._schedule

        async def counted(original: Any = original, index: int = index) -> bool:
            result: bool = await original()
            scheduled[index] += 1
            return result

        worker._schedule = counted  # type: ignore[method-assign]

    async def both_scheduled() -> bool:
        return min(scheduled) >= 1

    async with in_background(workers[0]), in_background(workers[1]):
        await _until(both_scheduled, timeout=60)  # both tried: a duplicate would be there
    async with db.session() as session:
        jobs = (await session.execute(select(Job))).scalars().all()
    assert len(jobs) == 1
    assert jobs[0].run_at.timestamp() % 3600 == 0 and jobs[0].run_at > utcnow()
    assert jobs[0].unique_key == f"periodic:tick:{jobs[0].run_at.isoformat()}"


async def _noop(_ctx: TaskContext, _payload: dict[str, Any]) -> None:
    return None


def test_cron_next_after() -> None:
    from stratabase.jobs.schedule import Cron

    after = datetime(2026, 3, 7, 23, 59, 30, tzinfo=UTC)  # a Saturday
    assert Cron.parse("*/15 * * * *").next_after(after) == datetime(2026, 3, 8, 0, 0, tzinfo=UTC)
    assert Cron.parse("30 9 * * mon-fri").next_after(after) == datetime(
        2026, 3, 9, 9, 30, tzinfo=UTC
    )
    assert Cron.parse("0 0 1 * *").next_after(after) == datetime(2026, 4, 1, tzinfo=UTC)
    # Both day fields restricted: either matches (the 13th, or a Friday).
    assert Cron.parse("0 12 13 * 5").next_after(after) == datetime(2026, 3, 13, 12, tzinfo=UTC)
    for bad in ("* * *", "61 * * * *", "* * * * mon-xyz", "*/0 * * * *"):
        with pytest.raises(ValueError):
            Cron.parse(bad)
    with pytest.raises(ValueError):
        Periodic("p", "t")


async def test_prune_deletes_old_finished_jobs_only(db: Database) -> None:
    old = await _add(db, JobCreate(task="t"))
    fresh = await _add(db, JobCreate(task="t"))
    waiting = await _add(db, JobCreate(task="t"))
    long_ago = utcnow() - timedelta(days=30)

    async def finish(session: Any) -> None:
        await session.execute(
            update(Job).where(Job.id == old).values(status="succeeded", finished_at=long_ago)
        )
        await session.execute(
            update(Job).where(Job.id == fresh).values(status="succeeded", finished_at=utcnow())
        )

    await db.transaction(finish)
    assert await JobService(db).prune(None, older_than=timedelta(days=7)) == 1
    remaining = {job.id for job in await queries.list_jobs(db)}
    assert remaining == {fresh, waiting}
    with pytest.raises(InvalidInput):
        await JobService(db).prune(None, older_than=timedelta(days=1), statuses=[JobStatus.QUEUED])
    stats = await queries.stats(db)
    assert stats.totals[JobStatus.QUEUED] == 1 and stats.totals[JobStatus.SUCCEEDED] == 1
    assert stats.as_dict()["totals"]["queued"] == 1
