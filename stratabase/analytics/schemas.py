"""What an event batch looks like on the wire, and the analytics answers."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel

#: Most events one ``POST /v1/events`` may carry.
MAX_BATCH = 500


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
