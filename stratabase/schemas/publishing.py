"""Scheduled publishing: projects and their cadence, planning notes, agent memory, chat."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

from stratabase.schemas.common import InputModel, Timezone

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
