"""A job enqueued under a request runs under its request id; job outcomes are counted."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from stratabase.db.session import Database
from stratabase.enums import JobStatus
from stratabase.jobs.registry import Registry, RetryPolicy, TaskContext, TaskSpec
from stratabase.jobs.service import JobService
from stratabase.jobs.worker import Worker, WorkerConfig
from stratabase.models.jobs import Job
from stratabase.observability import context, metrics
from stratabase.schemas.jobs import JobCreate
from stratabase.settings import Settings

FAST = WorkerConfig(
    concurrency=2, lease_seconds=30, poll_interval=0.05, flush_interval=0.01, run_periodic=False
)


def _jobs_total() -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            if sample.name == "stratabase_jobs_total":
                out[(sample.labels["task"], sample.labels["outcome"])] = sample.value
    return out


async def _finished(db: Database, job_id: int) -> bool:
    async with db.session() as session:
        job = await session.get(Job, job_id, populate_existing=True)
    assert job is not None
    return job.status in (JobStatus.SUCCEEDED, JobStatus.DEAD, JobStatus.FAILED)


async def test_jobs_run_under_the_enqueuing_request_and_are_counted(
    db: Database, settings: Settings
) -> None:
    seen: list[str | None] = []

    async def remember(ctx: TaskContext, payload: dict[str, Any]) -> None:
        seen.append(context.current_request_id())

    async def broken(ctx: TaskContext, payload: dict[str, Any]) -> None:
        raise RuntimeError("always")

    registry = Registry()
    registry.add(TaskSpec("obs.remember", remember, max_attempts=1))
    registry.add(TaskSpec("obs.broken", broken, max_attempts=2, retry=RetryPolicy(0.01, 0.01)))
    before = _jobs_total()
    token = context.bind(context.RequestContext("job-req-9"))
    try:
        jobs = JobService(db)  # no registry: the jobs are stored as given
        ok = await jobs.enqueue(None, JobCreate(task="obs.remember"))
        bad = await jobs.enqueue(None, JobCreate(task="obs.broken", max_attempts=2))
    finally:
        context.unbind(token)
    assert ok is not None and bad is not None
    worker = Worker(db, settings, registry, FAST)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while not (await _finished(db, ok) and await _finished(db, bad)):
            assert asyncio.get_running_loop().time() < deadline, "jobs did not finish"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert seen == ["job-req-9"]
    after = _jobs_total()

    def delta(task: str, outcome: str) -> float:
        return after.get((task, outcome), 0) - before.get((task, outcome), 0)

    assert delta("obs.remember", "completed") == 1
    assert delta("obs.broken", "retried") == 1 and delta("obs.broken", "failed") == 1
