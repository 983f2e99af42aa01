"""The queue's storage operations on the ``jobs`` table: enqueue, claim, ack, fail, reap.

Each function receives the session of a transaction its caller owns and runs one or two
statements, the same on both backends except where PostgreSQL has a faster form (``unnest``
for batched inserts, ``= ANY(array)`` for id lists). Claims are a single
``UPDATE … WHERE id IN (SELECT … ORDER BY priority, run_at, id LIMIT n FOR UPDATE SKIP
LOCKED) RETURNING …``; on SQLite the caller's ``BEGIN IMMEDIATE`` makes it exclusive and
``FOR UPDATE`` is simply not rendered. Every write that finishes a running job is guarded by
``status = 'running' AND lease_owner = :owner``: a worker that lost its lease (it stalled,
the reaper re-queued the job, another worker took it) cannot overwrite the newer attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Table,
    bindparam,
    case,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.changes import emit
from stratabase.db import portable
from stratabase.db.types import utcnow
from stratabase.enums import JobStatus
from stratabase.models.jobs import Job
from stratabase.observability.context import current_request_id
from stratabase.schemas.jobs import JobCreate

jobs = cast(Table, Job.__table__)

#: Literal predicates, so PostgreSQL can match the partial indexes with a generic plan.
IS_QUEUED = text("jobs.status = 'queued'")
IS_RUNNING = text("jobs.status = 'running'")
IS_ACTIVE = text("status IN ('queued', 'running')")

#: Errors (with traceback) are cut to this many characters, keeping the end.
MAX_ERROR_CHARS = 16_000

_PG_ENQUEUE = """
    INSERT INTO jobs (queue, task, payload, priority, run_at, max_attempts, unique_key,
                      status, attempts, created_at, updated_at, request_id)
    SELECT v.queue, v.task, v.payload::jsonb, v.priority, v.run_at, v.max_attempts,
           v.unique_key, 'queued', 0, :now, :now, CAST(:request_id AS text)
    FROM unnest(CAST(:queues AS text[]), CAST(:tasks AS text[]), CAST(:payloads AS text[]),
                CAST(:priorities AS int[]), CAST(:run_ats AS timestamptz[]),
                CAST(:max_attempts AS int[]), CAST(:unique_keys AS text[]))
         AS v(queue, task, payload, priority, run_at, max_attempts, unique_key)
"""
#: Only needed when a unique key is present: the conflict check costs ~30 % of a batch.
_PG_SKIP_ACTIVE_KEYS = "ON CONFLICT (unique_key) WHERE status IN ('queued', 'running') DO NOTHING"


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job this worker holds a lease on: what its handler needs, nothing more."""

    id: int
    queue: str
    task: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    #: The request that enqueued it (its ``X-Request-ID``), carried into its logs.
    request_id: str | None = None


def is_postgres(session: AsyncSession) -> bool:
    """For the branches that are a different algorithm (unnest loads, LISTEN/NOTIFY)."""
    return session.get_bind().dialect.name == "postgresql"


def _id_in(session: AsyncSession, ids: Sequence[int]) -> ColumnElement[bool]:
    return portable.id_in(session, jobs.c.id, ids)


def rowcount(result: Any) -> int:
    """Rows an UPDATE/DELETE/INSERT touched (``execute`` is typed as returning rows)."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


def clip_error(error: str) -> str:
    """An error text cut to the column's budget, keeping its end (the raise)."""
    return error if len(error) <= MAX_ERROR_CHARS else "…" + error[-MAX_ERROR_CHARS:]


async def enqueue_many(
    session: AsyncSession, specs: Sequence[JobCreate], *, now: datetime | None = None
) -> list[int]:
    """Insert jobs in one statement; a unique key already queued or running is skipped.

    Returns the ids of the jobs inserted (skipped duplicates have none).
    """
    if not specs:
        return []
    now = now or utcnow()
    if is_postgres(session):  # faster form: one unnest insert, arrays as parameters
        result = await session.execute(_pg_enqueue(specs, returning=True), _pg_params(specs, now))
        return [row[0] for row in result]
    return cast(list[int], await _sqlite_enqueue(session, specs, now, returning=True))


async def enqueue_count(
    session: AsyncSession, specs: Sequence[JobCreate], *, now: datetime | None = None
) -> int:
    """:func:`enqueue_many` for bulk loads: returns only how many jobs were inserted."""
    if not specs:
        return 0
    now = now or utcnow()
    if is_postgres(session):  # faster: one unnest insert, as in enqueue_many
        result = await session.execute(_pg_enqueue(specs, returning=False), _pg_params(specs, now))
        return rowcount(result)
    return int(await _sqlite_enqueue(session, specs, now, returning=False))


def _pg_enqueue(specs: Sequence[JobCreate], *, returning: bool) -> Any:
    sql = _PG_ENQUEUE
    if any(spec.unique_key is not None for spec in specs):
        sql += _PG_SKIP_ACTIVE_KEYS
    return text(sql + (" RETURNING id" if returning else ""))


def _pg_params(specs: Sequence[JobCreate], now: datetime) -> dict[str, Any]:
    return {
        "now": now,
        "request_id": current_request_id(),
        "queues": [s.queue for s in specs],
        "tasks": [s.task for s in specs],
        "payloads": [orjson.dumps(s.payload).decode() if s.payload else "{}" for s in specs],
        "priorities": [s.priority for s in specs],
        "run_ats": [
            now if s.run_at is None and not s.delay_seconds else s.scheduled_at(now) for s in specs
        ],
        "max_attempts": [s.max_attempts for s in specs],
        "unique_keys": [s.unique_key for s in specs],
    }


async def _sqlite_enqueue(
    session: AsyncSession, specs: Sequence[JobCreate], now: datetime, *, returning: bool
) -> Any:
    request_id = current_request_id()
    rows = [
        {
            "request_id": request_id,
            "queue": s.queue,
            "task": s.task,
            "payload": s.payload,
            "priority": s.priority,
            "run_at": s.scheduled_at(now),
            "max_attempts": s.max_attempts,
            "unique_key": s.unique_key,
            "status": JobStatus.QUEUED,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        for s in specs
    ]
    statement: Any = insert(jobs)
    if any(spec.unique_key is not None for spec in specs):
        statement = portable.insert_or_ignore(session, jobs, on=["unique_key"], where=IS_ACTIVE)
    if len(rows) == 1:
        result = await session.execute(statement.returning(jobs.c.id), rows[0])
        ids = [row[0] for row in result]
        return ids if returning else len(ids)
    if not returning:
        return rowcount(await session.execute(statement, rows))
    # executemany cannot return rows on every driver; ids are then read back by range.
    before = (await session.execute(select(jobs.c.id).order_by(jobs.c.id.desc()).limit(1))).scalar()
    await session.execute(statement, rows)
    after = await session.execute(
        select(jobs.c.id).where(jobs.c.id > (before or 0)).order_by(jobs.c.id)
    )
    return [row[0] for row in after]


async def claim(
    session: AsyncSession,
    *,
    queues: Sequence[str],
    owner: str,
    limit: int,
    lease: timedelta,
    now: datetime | None = None,
) -> list[ClaimedJob]:
    """Lease up to ``limit`` ready jobs of ``queues`` to ``owner``, in claim order."""
    if limit <= 0 or not queues:
        return []
    now = now or utcnow()
    ready = (
        select(jobs.c.id)
        .where(IS_QUEUED, jobs.c.queue.in_(list(queues)), jobs.c.run_at <= now)
        .order_by(jobs.c.priority, jobs.c.run_at, jobs.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(jobs)
        .where(jobs.c.id.in_(ready.scalar_subquery()))
        .values(
            status=literal_column("'running'"),
            lease_owner=owner,
            lease_expires_at=now + lease,
            heartbeat_at=now,
            started_at=now,
            attempts=jobs.c.attempts + 1,
            updated_at=now,
        )
        .returning(
            jobs.c.id,
            jobs.c.queue,
            jobs.c.task,
            jobs.c.payload,
            jobs.c.attempts,
            jobs.c.max_attempts,
            jobs.c.request_id,
        )
    )
    result = await session.execute(statement)
    claimed = [ClaimedJob(*row) for row in result]
    claimed.sort(key=lambda job: job.id)
    return claimed


#: The values that end a lease (the job is no longer held by a worker).
_UNLEASED: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}


def _held(session: AsyncSession, owner: str, ids: Sequence[int]) -> Any:
    """An UPDATE of the jobs among ``ids`` that ``owner`` still holds (running, its lease)."""
    return update(jobs).where(_id_in(session, ids), IS_RUNNING, jobs.c.lease_owner == owner)


async def ack(
    session: AsyncSession,
    *,
    owner: str,
    ids: Sequence[int],
    results: dict[int, dict[str, Any]] | None = None,
    now: datetime | None = None,
) -> int:
    """Mark jobs this owner still holds as succeeded, in one statement (plus results)."""
    if not ids:
        return 0
    now = now or utcnow()
    statement = _held(session, owner, ids).values(
        status=literal_column("'succeeded'"), finished_at=now, updated_at=now, **_UNLEASED
    )
    done = rowcount(await session.execute(statement))
    await emit.jobs_changed(session, ids, "succeeded")  # the admins' change feed
    if results:
        await session.execute(
            update(jobs).where(jobs.c.id == bindparam("job_id")).values(result=bindparam("res")),
            [{"job_id": job_id, "res": value} for job_id, value in results.items()],
        )
    return done


async def fail(
    session: AsyncSession,
    *,
    owner: str,
    job_id: int,
    error: str,
    retry_at: datetime | None,
    permanent: bool = False,
    now: datetime | None = None,
) -> JobStatus | None:
    """Record a failed attempt: re-queue at ``retry_at`` while attempts remain, else dead.

    ``permanent`` failures (the task said retrying cannot help) end as ``failed`` at once.
    Returns the new status, or None when the owner no longer held the job.
    """
    now = now or utcnow()
    retryable = retry_at is not None and not permanent
    final = JobStatus.FAILED if permanent else JobStatus.DEAD
    status = (
        case(
            (jobs.c.attempts < jobs.c.max_attempts, literal_column("'queued'")),
            else_=literal_column(f"'{final.value}'"),
        )
        if retryable
        else literal_column(f"'{final.value}'")
    )
    finished = case((jobs.c.attempts < jobs.c.max_attempts, None), else_=now) if retryable else now
    statement = (
        update(jobs)
        .where(jobs.c.id == job_id, IS_RUNNING, jobs.c.lease_owner == owner)
        .values(
            status=status,
            run_at=retry_at if retryable else jobs.c.run_at,
            error=clip_error(error),
            finished_at=finished,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
        .returning(jobs.c.status)
    )
    row = (await session.execute(statement)).first()
    if row is not None:
        await emit.jobs_changed(session, [job_id], JobStatus(row[0]).value)  # admins' feed
    return None if row is None else JobStatus(row[0])


async def release(
    session: AsyncSession, *, owner: str, ids: Sequence[int], now: datetime | None = None
) -> int:
    """Give jobs back unrun (shutdown): queued again now, the attempt not counted."""
    if not ids:
        return 0
    now = now or utcnow()
    statement = _held(session, owner, ids).values(
        status=literal_column("'queued'"),
        attempts=case((jobs.c.attempts > 0, jobs.c.attempts - 1), else_=0),
        run_at=now,
        updated_at=now,
        **_UNLEASED,
    )
    return rowcount(await session.execute(statement))


async def heartbeat(
    session: AsyncSession,
    *,
    owner: str,
    ids: Sequence[int],
    lease: timedelta,
    now: datetime | None = None,
) -> set[int]:
    """Extend the leases this owner still holds; returns those ids (the others were lost)."""
    if not ids:
        return set()
    now = now or utcnow()
    statement = (
        update(jobs)
        .where(_id_in(session, ids), IS_RUNNING, jobs.c.lease_owner == owner)
        .values(lease_expires_at=now + lease, heartbeat_at=now)
        .returning(jobs.c.id)
    )
    return {row[0] for row in await session.execute(statement)}


async def reap_expired(
    session: AsyncSession, *, now: datetime | None = None, limit: int = 1000
) -> list[tuple[int, JobStatus]]:
    """Re-queue running jobs whose lease expired (their worker died); dead if out of tries."""
    now = now or utcnow()
    expired = (
        select(jobs.c.id)
        .where(IS_RUNNING, jobs.c.lease_expires_at < now)
        .order_by(jobs.c.lease_expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    out_of_tries = jobs.c.attempts >= jobs.c.max_attempts
    statement = (
        update(jobs)
        .where(jobs.c.id.in_(expired.scalar_subquery()))
        .values(
            status=case((out_of_tries, literal_column("'dead'")), else_=literal_column("'queued'")),
            error=literal_column("'lease expired: the worker ' || lease_owner || ' was lost'"),
            finished_at=case((out_of_tries, now), else_=None),
            run_at=now,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
        .returning(jobs.c.id, jobs.c.status)
    )
    return [(row[0], JobStatus(row[1])) for row in await session.execute(statement)]
