"""Enqueue requests for the durable job queue, and how a job reads back."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Self

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from stratabase.enums import JobStatus
from stratabase.schemas.common import InputModel, JsonDocument, ReadModel, field_error

MAX_DELAY_SECONDS = 10 * 366 * 86_400
QueueName = Annotated[str, StringConstraints(max_length=60, pattern=r"^[a-z0-9_.-]{1,60}$")]


def _task_default(schema: dict[str, Any]) -> None:
    """Omitted means the task's own value (``jobs.service.resolve``), not this default."""
    schema.pop("default", None)


class JobCreate(InputModel):
    """A job to run now, at ``run_at``, or ``delay_seconds`` from now (not both).

    ``unique_key`` deduplicates: enqueueing a key already queued or running is a no-op.
    """

    #: Omitted: the task's registered queue.
    queue: QueueName = Field(
        default="default",
        description="default: the task's registered queue",
        json_schema_extra=_task_default,
    )
    task: str = Field(min_length=1, max_length=120)
    payload: JsonDocument = Field(default_factory=dict)
    #: Lower runs first.
    priority: int = Field(default=0, ge=-1000, le=1000)
    run_at: AwareDatetime | None = None
    #: At most ten years: keeps ``now + delay`` inside datetime's range.
    delay_seconds: int | None = Field(default=None, ge=0, le=MAX_DELAY_SECONDS)
    #: Omitted: the task's registered attempts.
    max_attempts: int = Field(
        default=5,
        ge=1,
        le=100,
        description="default: the task's registered attempts",
        json_schema_extra=_task_default,
    )
    unique_key: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_schedule(self) -> Self:
        if self.run_at is not None and self.delay_seconds is not None:
            raise field_error(
                type(self),
                "delay_seconds",
                "schedule_ambiguous",
                "give run_at or delay_seconds, not both",
                self.delay_seconds,
            )
        return self

    def scheduled_at(self, now: datetime) -> datetime:
        """When the job becomes runnable, given the enqueue time ``now``."""
        if self.run_at is not None:
            return self.run_at
        return now + timedelta(seconds=self.delay_seconds or 0)


class JobRead(ReadModel):
    """A job as the API and ``jobs show`` print it: state, attempts, lease, result."""

    id: int
    queue: str
    task: str
    payload: dict[str, Any] = Field(default_factory=dict)
    status: JobStatus
    priority: int
    attempts: int
    max_attempts: int
    run_at: AwareDatetime
    lease_owner: str | None = None
    lease_expires_at: AwareDatetime | None = None
    heartbeat_at: AwareDatetime | None = None
    #: Last error with its traceback.
    error: str | None = None
    result: dict[str, Any] | None = None
    unique_key: str | None = None
    started_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
