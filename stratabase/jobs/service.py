"""Use cases of the queue for callers outside the worker: enqueue, retry, cancel, prune.

:class:`JobService` (``Stratabase.jobs``) is the one public way to use the queue: the API's
routes, every ``stratabase jobs`` command, the built-in tasks, the queue bench and library
code all call it. Each method owns its transaction (``Database.transaction``); enqueueing
wakes workers — by NOTIFY inside the transaction on PostgreSQL, and in-process after commit.
The single other entry point is :func:`enqueue_in`, for a job that must exist if and only
if the caller's own transaction commits (a post's link-preview crawls, an episode's
follow-ups, the worker's periodic jobs): it has no transaction of its own to offer.

What a job request means is decided here, once, for every entry point (HTTP, CLI, library):
given a task registry, :func:`resolve` refuses an unknown task and takes the queue and
attempts the request leaves out from the task's registration. A service built without a
registry is a plain producer (for workers whose tasks this process does not know): it
stores the request as given.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict, Unpack

from sqlalchemy import delete, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase import audit
from stratabase.auth.principal import Principal
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import JobStatus
from stratabase.exceptions import AlreadyExists, Conflict, InvalidInput, NotFound, PermissionDenied
from stratabase.jobs import notify, queries
from stratabase.jobs.queue import enqueue_count, enqueue_many, is_postgres, jobs, rowcount
from stratabase.jobs.registry import Registry
from stratabase.models.jobs import Job
from stratabase.pagination import CursorCodec, Page
from stratabase.schemas.jobs import JobCreate, JobRead

#: The kind signed into job list cursors: a cursor of another list is refused.
JOBS_CURSOR = "jobs"
#: Rows deleted per statement when pruning, so no transaction grows without bound.
PRUNE_CHUNK = 5_000
RETRYABLE = (JobStatus.DEAD, JobStatus.FAILED, JobStatus.CANCELLED)
CANCELLABLE = (JobStatus.QUEUED, JobStatus.RUNNING)


async def enqueue_in(session: AsyncSession, specs: Sequence[JobCreate]) -> list[int]:
    """Enqueue inside a caller's transaction (the job exists iff the caller commits)."""
    ids = await enqueue_many(session, specs)
    if ids:
        await _wake(session, {spec.queue for spec in specs})
    return ids


async def _enqueue_counted(session: AsyncSession, *, specs: Sequence[JobCreate]) -> int:
    count = await enqueue_count(session, specs)
    if count:
        await _wake(session, {spec.queue for spec in specs})
    return count


async def _wake(session: AsyncSession, queues: set[str]) -> None:
    if is_postgres(session):  # other processes: NOTIFY, which SQLite has no counterpart to
        await notify.notify(session, queues)
    notify.wake_after_commit(session)


def resolve(spec: JobCreate, registry: Registry) -> JobCreate:
    """The job ``spec`` asks for, as ``registry`` defines its task.

    An unknown task is refused (InvalidInput on ``task``, naming the known ones) instead of
    failing on a worker later; ``queue`` and ``max_attempts`` not set by the caller are the
    task's own, so the same request makes the same job whoever sends it.
    """
    if spec.task not in registry:
        known = ", ".join(registry.names())
        raise InvalidInput(f"unknown task {spec.task!r}; known tasks: {known}", field="task")
    task = registry.get(spec.task)
    given = spec.model_fields_set
    defaults = {"queue": task.queue, "max_attempts": task.max_attempts}
    return spec.model_copy(update={k: v for k, v in defaults.items() if k not in given})


class JobFilter(TypedDict, total=False):
    """Which jobs a bulk retry or cancel touches (``retry_where``, ``cancel_where``): any of
    ``ids``, ``queue``, ``task`` (at least one), within ``statuses`` (None or empty: every
    status the move applies to)."""

    ids: Sequence[int] | None
    queue: str | None
    task: str | None
    statuses: Sequence[JobStatus] | None


@dataclass(frozen=True)
class _Selection:
    """The jobs a retry or cancel touches: ``ids`` and/or a filter, within ``statuses``."""

    statuses: Sequence[JobStatus]
    ids: Sequence[int] | None = None
    queue: str | None = None
    task: str | None = None

    @classmethod
    def of(cls, where: JobFilter, default: Sequence[JobStatus]) -> _Selection:
        """The selection a :class:`JobFilter` names, ``default`` statuses if it names none."""
        return cls(
            where.get("statuses") or default,
            where.get("ids"),
            where.get("queue"),
            where.get("task"),
        )

    def where(self, statement: Any) -> Any:
        """``statement`` narrowed to the selection; no ids and no filter is InvalidInput."""
        if self.ids is None and self.queue is None and self.task is None:
            raise InvalidInput("give job ids or a filter (queue, task, status)")
        statement = statement.where(jobs.c.status.in_([s.value for s in self.statuses]))
        if self.ids is not None:
            statement = statement.where(jobs.c.id.in_(list(self.ids)))
        if self.queue is not None:
            statement = statement.where(jobs.c.queue == self.queue)
        if self.task is not None:
            statement = statement.where(jobs.c.task == self.task)
        return statement


async def _move(
    session: AsyncSession,
    selection: _Selection,
    allowed: Sequence[JobStatus],
    refusal: str,
    **values: Any,
) -> list[tuple[int, str]]:
    """One edge of the state machine for every selected job in ``allowed`` statuses:
    ``(id, queue)`` of the jobs moved; a status outside ``allowed`` is ``refusal``."""
    if any(s not in allowed for s in selection.statuses):
        raise InvalidInput(refusal, field="status")
    statement = selection.where(update(jobs)).values(**values)
    rows = await session.execute(statement.returning(jobs.c.id, jobs.c.queue))
    return [(row[0], row[1]) for row in rows]


async def _requeue(session: AsyncSession, selection: _Selection) -> list[int]:
    now = utcnow()
    rows = await _move(
        session,
        selection,
        RETRYABLE,
        "only dead, failed or cancelled jobs can be retried",
        status=literal_column("'queued'"),
        attempts=0,
        run_at=now,
        finished_at=None,
        updated_at=now,
    )
    if rows:
        await _wake(session, {queue for _, queue in rows})
    return sorted(job_id for job_id, _ in rows)


async def _cancel(session: AsyncSession, selection: _Selection) -> list[int]:
    now = utcnow()
    rows = await _move(
        session,
        selection,
        CANCELLABLE,
        "only queued or running jobs can be cancelled",
        status=literal_column("'cancelled'"),
        finished_at=now,
        lease_owner=None,
        lease_expires_at=None,
        updated_at=now,
    )
    return sorted(job_id for job_id, _ in rows)


async def _prune_chunk(
    session: AsyncSession, *, statuses: Sequence[JobStatus], cutoff: datetime
) -> int:
    chunk = (
        select(jobs.c.id)
        .where(jobs.c.status.in_([s.value for s in statuses]), jobs.c.finished_at < cutoff)
        .limit(PRUNE_CHUNK)
        .scalar_subquery()
    )
    return rowcount(await session.execute(delete(jobs).where(jobs.c.id.in_(chunk))))


async def _read(session: AsyncSession, job_id: int) -> JobRead:
    statement = select(Job).where(Job.id == job_id).execution_options(populate_existing=True)
    job = (await session.execute(statement)).scalar_one_or_none()
    if job is None:
        raise NotFound(f"job {job_id} does not exist", field="job_id")
    return JobRead.model_validate(job)


def _require_admin(principal: Principal | None) -> None:
    if principal is not None and not principal.is_admin:
        raise PermissionDenied("administrators only")


class JobService:
    """The queue as one app sees it: the tasks it accepts, and its operators' use cases.

    Every method is one transaction (bulk ones one per chunk) and states the state machine
    here, not in its callers: retry takes a dead, failed or cancelled job back to queued;
    cancel takes a queued or running one to cancelled; anything else is a Conflict. A
    ``principal`` (HTTP) must be an admin; None is a trusted caller (CLI, tasks, library).
    With a ``registry``, requests are checked and completed by :func:`resolve`; without
    one they are stored as given. Lists are paged by opaque cursors signed with
    ``cursors`` (by default with the database settings' secret key).
    """

    def __init__(
        self,
        db: Database,
        registry: Registry | None = None,
        *,
        cursors: CursorCodec | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.cursors = cursors or CursorCodec(db.settings.secret_key.get_secret_value())

    def _resolved(self, spec: JobCreate) -> JobCreate:
        return spec if self.registry is None else resolve(spec, self.registry)

    async def submit(self, principal: Principal | None, spec: JobCreate) -> JobRead:
        """Enqueue ``spec`` as the registry defines its task; AlreadyExists when its unique
        key is already queued or running."""
        _require_admin(principal)
        spec = self._resolved(spec)

        async def work(session: AsyncSession) -> JobRead:
            ids = await enqueue_in(session, [spec])
            if not ids:
                raise AlreadyExists("a job with this unique key is already queued or running")
            return await _read(session, ids[0])

        return await self.db.transaction(work)

    async def get(self, principal: Principal | None, job_id: int) -> JobRead:
        """One job, with its payload, result and last error; NotFound when there is none."""
        _require_admin(principal)
        async with self.db.session() as session:
            return await _read(session, job_id)

    async def list_jobs(
        self,
        principal: Principal | None,
        *,
        statuses: Sequence[JobStatus] = (),
        queue: str | None = None,
        task: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[JobRead]:
        """Jobs newest first, filtered; pass ``next_cursor`` back as ``cursor`` for the next
        (older) page. A cursor from another list, or altered, is InvalidInput on ``cursor``."""
        _require_admin(principal)
        if not 1 <= limit <= queries.MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {queries.MAX_PAGE}", field="limit")
        before_id = None
        if cursor is not None:
            (value,) = self.cursors.decode(JOBS_CURSOR, cursor, 1)
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidInput("the cursor does not belong to this list", field="cursor")
            before_id = value
        rows = await queries.list_jobs(
            self.db, statuses=statuses, queue=queue, task=task, before_id=before_id, limit=limit + 1
        )
        items = rows[:limit]
        more = len(rows) > limit
        return Page(items, self.cursors.encode(JOBS_CURSOR, [items[-1].id]) if more else None)

    async def retry_job(self, principal: Principal | None, job_id: int) -> JobRead:
        """Queue one finished job again; NotFound, or Conflict in any other state."""
        _require_admin(principal)

        async def work(session: AsyncSession) -> JobRead:
            if not await _requeue(session, _Selection(RETRYABLE, ids=[job_id])):
                await _read(session, job_id)  # NotFound first
                raise Conflict("only dead, failed or cancelled jobs can be retried")
            return await _read(session, job_id)

        return await self.db.transaction(work)

    async def cancel_job(self, principal: Principal | None, job_id: int) -> JobRead:
        """Cancel one queued or running job; NotFound, or Conflict once it finished."""
        _require_admin(principal)

        async def work(session: AsyncSession) -> JobRead:
            if not await _cancel(session, _Selection(CANCELLABLE, ids=[job_id])):
                await _read(session, job_id)
                raise Conflict("only queued or running jobs can be cancelled")
            audit.record(
                session, principal.user_id if principal else None, "job.cancelled", "job", job_id
            )
            return await _read(session, job_id)

        return await self.db.transaction(work)

    async def retry_where(
        self, principal: Principal | None, **where: Unpack[JobFilter]
    ) -> list[int]:
        """Bulk retry by ids and/or filter (every retryable status when ``statuses`` is
        empty), with fresh attempts; returns the ids re-queued. A job whose unique key is
        active again in another job is refused (AlreadyExists)."""
        _require_admin(principal)
        selection = _Selection.of(where, RETRYABLE)
        return await self.db.transaction(functools.partial(_requeue, selection=selection))

    async def cancel_where(
        self, principal: Principal | None, **where: Unpack[JobFilter]
    ) -> list[int]:
        """Bulk cancel by ids and/or filter (every cancellable status when ``statuses`` is
        empty); returns the ids cancelled. A running handler stops at its next heartbeat."""
        _require_admin(principal)
        selection = _Selection.of(where, CANCELLABLE)
        actor = principal.user_id if principal else None

        async def work(session: AsyncSession) -> list[int]:
            cancelled = await _cancel(session, selection)
            if cancelled:
                audit.record(
                    session, actor, "jobs.cancelled", "job", None, {"ids": [None, cancelled]}
                )
            return cancelled

        return await self.db.transaction(work)

    async def enqueue(self, principal: Principal | None, spec: JobCreate) -> int | None:
        """Enqueue ``spec`` as the registry defines its task (``stratabase jobs enqueue``);
        None, not an error, when its unique key is already queued or running."""
        _require_admin(principal)
        spec = self._resolved(spec)
        ids = await self.db.transaction(lambda session: enqueue_in(session, [spec]))
        return ids[0] if ids else None

    async def enqueue_batch(
        self, principal: Principal | None, specs: Sequence[JobCreate], *, chunk: int = 10_000
    ) -> int:
        """Enqueue many jobs, ``chunk`` per statement and transaction (a bulk load, the
        queue bench); returns how many were new (duplicate unique keys are skipped)."""
        _require_admin(principal)
        specs = [self._resolved(spec) for spec in specs] if self.registry else specs
        total = 0
        for start in range(0, len(specs), chunk):
            part = specs[start : start + chunk]
            total += await self.db.transaction(functools.partial(_enqueue_counted, specs=part))
        return total

    async def prune(
        self,
        principal: Principal | None,
        *,
        older_than: timedelta,
        statuses: Sequence[JobStatus] = (JobStatus.SUCCEEDED, JobStatus.CANCELLED),
        now: datetime | None = None,
    ) -> int:
        """Delete finished jobs older than ``older_than`` (before ``now``, by default the
        present), :data:`PRUNE_CHUNK` per transaction so none grows without bound; returns
        how many. Queued and running jobs are never pruned (InvalidInput)."""
        _require_admin(principal)
        if any(s in (JobStatus.QUEUED, JobStatus.RUNNING) for s in statuses):
            raise InvalidInput("queued or running jobs are never pruned", field="status")
        cutoff = (now or utcnow()) - older_than
        total = 0
        while True:
            deleted = await self.db.transaction(
                functools.partial(_prune_chunk, statuses=statuses, cutoff=cutoff)
            )
            total += deleted
            if deleted < PRUNE_CHUNK:
                return total

    async def stats(self, principal: Principal | None) -> queries.JobStats:
        """Jobs per queue and status, and how late each queue's oldest queued job is."""
        _require_admin(principal)
        return await queries.stats(self.db)
