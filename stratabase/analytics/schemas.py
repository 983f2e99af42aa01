"""What an event batch looks like on the wire, and the analytics answers."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: Most events one ``POST /v1/events`` may carry.
MAX_BATCH = 500


class EventIn(BaseModel):
    """One event: its type (from the registry) and the data that type requires."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=60)
    data: dict[str, Any] = Field(default_factory=dict)


class EventBatch(BaseModel):
    """Up to :data:`MAX_BATCH` events, stored together or not at all."""

    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class EventsAccepted(BaseModel):
    """How many events were stored."""

    accepted: int


class ActiveUsersDay(BaseModel):
    """Members of the organization active on one day."""

    date: date
    active_users: int


class EventsDay(BaseModel):
    """Events of one type on one day, and how many members sent them."""

    date: date
    event_type: str
    events: int
    users: int


class EpisodeReading(BaseModel):
    """An episode's opens, readers (summed per day) and reading time over the range."""

    episode_id: int
    opens: int
    readers: int
    reading_time: int


class TokenUsageDay(BaseModel):
    """Tokens the organization spent on one day, against its daily quota."""

    date: date
    tokens_in: int
    tokens_out: int
    used: int
    quota: int
    cost_minor: int


class AnalyticsOut(BaseModel):
    """An analytics series for one organization over ``[since, until]`` (UTC days)."""

    organization_id: int
    since: date
    until: date
    items: list[Any]
