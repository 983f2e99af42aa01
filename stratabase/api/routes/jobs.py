"""Admin HTTP for the job queue: list, read, enqueue, retry and cancel (by id or filter)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, Field

from stratabase.api.deps import AdminUserDep, JobsDep
from stratabase.api.routes._params import Cursor, ObjectId
from stratabase.api.routes._router import api_router
from stratabase.api.schemas.common import PageOut
from stratabase.enums import JobStatus
from stratabase.schemas.common import InputModel
from stratabase.schemas.jobs import JobCreate, JobRead, QueueName

router = api_router("/v1/jobs", tag="jobs")


class JobFilter(InputModel):
    """Which jobs a bulk retry or cancel applies to (at least one field)."""

    queue: QueueName | None = None
    task: str | None = Field(default=None, min_length=1, max_length=120)
    status: list[JobStatus] | None = Field(default=None, max_length=len(JobStatus))


class JobIds(BaseModel):
    """The ids a bulk retry or cancel changed, ascending."""

    ids: list[int]


@router.get("", response_model=PageOut[JobRead])
async def list_jobs(
    admin: AdminUserDep,
    jobs: JobsDep,
    status: Annotated[list[JobStatus] | None, Query(max_length=len(JobStatus))] = None,
    queue: Annotated[str | None, Query(max_length=60)] = None,
    task: Annotated[str | None, Query(max_length=120)] = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> PageOut[JobRead]:
    """Jobs newest first, filtered by status (repeatable), queue and task; pass
    ``next_cursor`` back as ``cursor`` for the next (older) page."""
    page = await jobs.list_jobs(
        admin, statuses=status or (), queue=queue, task=task, cursor=cursor, limit=limit
    )
    return PageOut[JobRead](items=page.items, next_cursor=page.next_cursor, has_more=page.has_more)


@router.get("/{job_id}", response_model=JobRead)
async def get_job(admin: AdminUserDep, jobs: JobsDep, job_id: ObjectId) -> JobRead:
    """One job, with its payload, result and last error (traceback)."""
    return await jobs.get(admin, job_id)


@router.post("", response_model=JobRead, status_code=201)
async def enqueue(admin: AdminUserDep, jobs: JobsDep, body: JobCreate) -> JobRead:
    """Enqueue a job; 422 for an unknown task, 409 when its unique key is already queued
    or running. Omitted ``queue`` and ``max_attempts`` are the task's own."""
    return await jobs.submit(admin, body)


@router.post("/{job_id}/retry", response_model=JobRead)
async def retry_job(admin: AdminUserDep, jobs: JobsDep, job_id: ObjectId) -> JobRead:
    """Queue a dead, failed or cancelled job again; 409 in any other state."""
    return await jobs.retry_job(admin, job_id)


@router.post("/{job_id}/cancel", response_model=JobRead)
async def cancel_job(admin: AdminUserDep, jobs: JobsDep, job_id: ObjectId) -> JobRead:
    """Cancel a queued or running job; 409 when it already finished."""
    return await jobs.cancel_job(admin, job_id)


@router.post("/retry", response_model=JobIds)
async def retry_jobs(admin: AdminUserDep, jobs: JobsDep, body: JobFilter) -> JobIds:
    """Retry every job the filter matches (every retryable status unless ``status``)."""
    ids = await jobs.retry_where(admin, queue=body.queue, task=body.task, statuses=body.status)
    return JobIds(ids=ids)


@router.post("/cancel", response_model=JobIds)
async def cancel_jobs(admin: AdminUserDep, jobs: JobsDep, body: JobFilter) -> JobIds:
    """Cancel every job the filter matches (every cancellable status unless ``status``)."""
    ids = await jobs.cancel_where(admin, queue=body.queue, task=body.task, statuses=body.status)
    return JobIds(ids=ids)
