"""Scheduled publishing: projects and their cadence, planning notes, agent memory, chat."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

from stratabase.enums import ChatRole, PlanningNoteStatus, ProjectStatus
from stratabase.schemas.common import (
    InputModel,
    IntCount,
    JsonDocument,
    ReadModel,
    Timezone,
    UpdateModel,
)

WEEK: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _unique_days(days: list[str]) -> list[str]:
    # A duplicate is almost certainly a typo for another day: refuse it, don't fold it.
    if len(set(days)) != len(days):
        raise PydanticCustomError("duplicate_days", "each day may appear only once")
    return sorted(days, key=WEEK.index)


Weekday = Annotated[
    Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], BeforeValidator(_lower)
]
#: One or more distinct days, stored in week order whatever order they were given in.
Weekdays = Annotated[list[Weekday], Field(min_length=1, max_length=7), AfterValidator(_unique_days)]
#: 24-hour wall-clock time in the cadence's time zone.
ClockTime = Annotated[str, StringConstraints(max_length=5, pattern=r"^(?:[01]\d|2[0-3]):[0-5]\d$")]


class CadenceConfig(InputModel):
    """When a project publishes: e.g. mon and thu at 09:00 America/New_York."""

    days: Weekdays
    time: ClockTime
    timezone: Timezone = "UTC"


class ProjectCreate(InputModel):
    """A project in the caller's organization; without a cadence nothing is scheduled."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5_000)
    cadence_config: CadenceConfig | None = None


class ProjectUpdate(UpdateModel):
    """``cadence_config: null`` clears the cadence (stops scheduling)."""

    nullable_fields = frozenset({"description", "cadence_config"})

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5_000)
    cadence_config: CadenceConfig | None = None
    status: ProjectStatus | None = None


class ProjectRead(ReadModel):
    id: int
    organization_id: int
    owner_id: int | None = None
    name: str
    description: str | None = None
    cadence_config: CadenceConfig | None = None
    memories: dict[str, Any] = Field(default_factory=dict)
    status: ProjectStatus
    created_at: AwareDatetime
    updated_at: AwareDatetime

    @field_validator("cadence_config", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        # The column defaults to {} for "no cadence".
        return value or None


class PlanningNoteCreate(InputModel):
    """Feedback that steers the next episodes of a project."""

    body: str = Field(min_length=1, max_length=5_000)


class PlanningNoteRead(ReadModel):
    id: int
    project_id: int
    author_id: int | None = None
    body: str
    status: PlanningNoteStatus
    created_at: AwareDatetime
    updated_at: AwareDatetime


class AgentMemoryUpsert(InputModel):
    """Create or replace the memory at (project, kind, key)."""

    kind: str = Field(min_length=1, max_length=40)
    key: str = Field(min_length=1, max_length=200)
    content: JsonDocument = Field(default_factory=dict)


class AgentMemoryRead(ReadModel):
    id: int
    project_id: int
    kind: str
    key: str
    content: dict[str, Any] = Field(default_factory=dict)
    created_at: AwareDatetime
    updated_at: AwareDatetime


class ChatMessageCreate(InputModel):
    """One message in a chat session, with the token counts it cost (for quota accounting)."""

    role: ChatRole
    content: str = Field(min_length=1, max_length=100_000)
    tokens_in: IntCount = 0
    tokens_out: IntCount = 0


class ChatMessageRead(ReadModel):
    id: int
    session_id: int
    role: ChatRole
    content: str
    tokens_in: int = 0
    tokens_out: int = 0
    created_at: AwareDatetime
