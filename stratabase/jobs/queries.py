"""Reads of the queue for operators: list (keyset pages), one job, counts by queue/status.

Each opens its own read session; the results are typed (``JobRead``, :class:`JobStats`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from stratabase.db.session import Database
from stratabase.enums import JobStatus
from stratabase.exceptions import NotFound
from stratabase.models.jobs import Job
from stratabase.schemas.jobs import JobRead

#: Most jobs one read returns (a page of ``MAX_PAGE`` asks for one more, to know if more
#: follow).
MAX_PAGE = 1000


async def list_jobs(
    db: Database,
    *,
    statuses: Sequence[JobStatus] = (),
    queue: str | None = None,
    task: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[JobRead]:
    """Newest first, ids below ``before_id`` (keyset: a deep page costs what the first does).

    ``JobService.list_jobs`` wraps this in opaque cursors; this is the raw read.
    """
    statement = select(Job).order_by(Job.id.desc()).limit(max(1, min(limit, MAX_PAGE + 1)))
    if statuses:
        statement = statement.where(Job.status.in_(list(statuses)))
    if queue is not None:
        statement = statement.where(Job.queue == queue)
    if task is not None:
        statement = statement.where(Job.task == task)
    if before_id is not None:
        statement = statement.where(Job.id < before_id)
    async with db.session() as session:
        rows = (await session.execute(statement)).scalars().all()
    return [JobRead.model_validate(row) for row in rows]


async def get_job(db: Database, job_id: int) -> JobRead:
    """One job by id; NotFound (naming ``job_id``) when there is none."""
    async with db.session() as session:
        job = await session.get(Job, job_id)
    if job is None:
        raise NotFound(f"job {job_id} does not exist", field="job_id")
    return JobRead.model_validate(job)


@dataclass(frozen=True)
class QueueStats:
    """One queue: jobs per status (every status present, zero or not), and when its oldest
    queued job became (or becomes) runnable: how far behind its workers are."""

    counts: dict[JobStatus, int]
    oldest_queued_run_at: datetime | None = None


@dataclass(frozen=True)
class JobStats:
    """Counts per queue and status, and their totals over every queue."""

    queues: dict[str, QueueStats]
    totals: dict[JobStatus, int]

    def as_dict(self) -> dict[str, Any]:
        """The JSON ``stratabase jobs stats --json`` prints: statuses as keys, times ISO."""
        queues: dict[str, dict[str, Any]] = {}
        for name, queue in self.queues.items():
            entry: dict[str, Any] = {status.value: count for status, count in queue.counts.items()}
            if queue.oldest_queued_run_at is not None:
                entry["oldest_queued_run_at"] = queue.oldest_queued_run_at.isoformat()
            queues[name] = entry
        return {"queues": queues, "totals": {s.value: n for s, n in self.totals.items()}}


async def stats(db: Database) -> JobStats:
    """Counts per queue and status, and the age of the oldest ready job per queue."""
    statement = select(Job.queue, Job.status, func.count()).group_by(Job.queue, Job.status)
    oldest = (
        select(Job.queue, func.min(Job.run_at))
        .where(Job.status == JobStatus.QUEUED)
        .group_by(Job.queue)
    )
    async with db.session() as session:
        counts = (await session.execute(statement)).all()
        ready = {queue: run_at for queue, run_at in (await session.execute(oldest)).all()}
    per_queue: dict[str, dict[JobStatus, int]] = {}
    for queue, status, count in counts:
        per_queue.setdefault(queue, dict.fromkeys(JobStatus, 0))[JobStatus(status)] = int(count)
    for queue in ready:
        per_queue.setdefault(queue, dict.fromkeys(JobStatus, 0))
    queues = {
        name: QueueStats(counts=per_queue[name], oldest_queued_run_at=ready.get(name))
        for name in sorted(per_queue)
    }
    totals = {s: sum(q.counts[s] for q in queues.values()) for s in JobStatus}
    return JobStats(queues=queues, totals=totals)
