"""``noop`` (health checks, benchmarks) and ``maintenance.prune`` (retention of finished jobs,
the change feed's outbox and the slow-query log)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from stratabase.changes import outbox
from stratabase.enums import JobStatus
from stratabase.jobs.registry import Registry, TaskContext, TaskResult, TaskSpec
from stratabase.jobs.schedule import Periodic
from stratabase.jobs.service import JobService
from stratabase.observability import slowlog

#: Dead and failed jobs are kept this many times longer than succeeded ones: people read them.
FAILED_RETENTION_FACTOR = 4


async def noop(_ctx: TaskContext, _payload: dict[str, Any]) -> TaskResult:
    """Does nothing: measures the queue itself."""
    return None


async def prune(ctx: TaskContext, payload: dict[str, Any]) -> TaskResult:
    """Delete finished jobs past the retention (``job_retention_days``, or ``days`` given)."""
    days = float(payload.get("days", ctx.settings.job_retention_days))
    jobs = JobService(ctx.db)
    done = await jobs.prune(
        None,
        older_than=timedelta(days=days),
        statuses=(JobStatus.SUCCEEDED, JobStatus.CANCELLED),
    )
    failed = await jobs.prune(
        None,
        older_than=timedelta(days=days * FAILED_RETENTION_FACTOR),
        statuses=(JobStatus.DEAD, JobStatus.FAILED),
    )
    retention = timedelta(days=ctx.settings.changes_retention_days)  # the change feed's outbox
    changes = await ctx.db.transaction(lambda session: outbox.prune(session, retention))
    queries = await slowlog.prune(
        ctx.db, older_than=timedelta(days=ctx.settings.slow_query_log_retention_days)
    )
    return {"deleted": done + failed, "changes_deleted": changes, "query_logs_deleted": queries}


def register(registry: Registry, *, periodic: bool = True) -> None:
    """Add the maintenance tasks (and their schedule) to ``registry``."""
    registry.add(TaskSpec("noop", noop, queue="default", max_attempts=1))
    registry.add(TaskSpec("maintenance.prune", prune, queue="maintenance", max_attempts=3))
    if periodic:
        registry.add_periodic(Periodic("maintenance.prune", "maintenance.prune", cron="17 * * * *"))
