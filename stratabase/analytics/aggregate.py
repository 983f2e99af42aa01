"""``analytics.aggregate``: rebuild a day's analytics aggregates from ``user_events``.

For one UTC day the job deletes the day's rows of the three aggregate tables and inserts
them again with ``INSERT … SELECT … GROUP BY`` (three statements, one transaction, no row
travels through Python), so it is idempotent and a late event is counted by the next run:

- ``analytics_daily_events``: per member organization and type, events and distinct users;
- ``analytics_daily_users``: per member organization, distinct active users;
- ``analytics_episode_reading``: per episode (attributed to its project's organization,
  whoever read it), ``episode_opened`` count, distinct readers and summed reading time.

Events of users without an organization count in the episode totals only. ``token_usage``
rows (quota accounting) are not product events and are left to ``usage.aggregate``. The
periodic schedule covers yesterday and today every five minutes.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import BigInteger, Date, Integer, cast, delete, func, insert, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.types import UTCDateTime, utcnow
from stratabase.jobs.errors import PermanentJobError
from stratabase.jobs.registry import Registry, TaskContext, TaskResult, TaskSpec
from stratabase.jobs.schedule import Periodic
from stratabase.models import (
    DailyActiveUsers,
    DailyEventCount,
    Episode,
    EpisodeReadingDaily,
    Project,
    User,
    UserEvent,
)

#: Quota accounting rows, aggregated by ``usage.aggregate`` instead.
_NOT_PRODUCT = "token_usage"
READ_EVENT = "episode_opened"
#: Statement timeout of the job's transaction on PostgreSQL (10 minutes).
JOB_STATEMENT_TIMEOUT_MS = 600_000


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), UTC)
    return start, start + timedelta(days=1)


async def aggregate_day(session: AsyncSession, day: date) -> dict[str, int]:
    """Rebuild ``day``'s aggregates; returns how many rows each table got."""
    start, end = _bounds(day)
    now = literal(utcnow(), UTCDateTime())
    the_day = literal(day, Date())
    in_day = (UserEvent.created_at >= start, UserEvent.created_at < end)
    if session.get_bind().dialect.name == "postgresql":
        # a day of 10 M events takes ~30 s per statement on a busy 2-core machine: past the
        # API's statement timeout, which is for requests, not for this job
        await session.execute(text(f"SET LOCAL statement_timeout = {JOB_STATEMENT_TIMEOUT_MS}"))
    for table in (DailyEventCount, DailyActiveUsers, EpisodeReadingDaily):
        await session.execute(delete(table).where(table.date == day))
    members = (
        select(UserEvent.event_type, UserEvent.user_id, User.organization_id)
        .join(User, User.id == UserEvent.user_id)
        .where(*in_day, User.organization_id.is_not(None), UserEvent.event_type != _NOT_PRODUCT)
        .subquery()
    )
    by_type = select(
        members.c.organization_id,
        the_day,
        members.c.event_type,
        func.count(),
        func.count(members.c.user_id.distinct()),
        now,
    ).group_by(members.c.organization_id, members.c.event_type)
    await session.execute(
        insert(DailyEventCount).from_select(
            ["organization_id", "date", "event_type", "events", "users", "updated_at"], by_type
        )
    )
    active = select(
        members.c.organization_id, the_day, func.count(members.c.user_id.distinct()), now
    ).group_by(members.c.organization_id)
    await session.execute(
        insert(DailyActiveUsers).from_select(
            ["organization_id", "date", "active_users", "updated_at"], active
        )
    )
    data = UserEvent.event_data
    # BIGINT: episode ids are (``as_integer`` is INTEGER on PostgreSQL)
    episode_id = cast(data["episode_id"].as_string(), BigInteger)
    reading = (
        select(
            Project.organization_id,
            Episode.id,
            the_day,
            func.count(),
            func.count(UserEvent.user_id.distinct()),
            func.coalesce(func.sum(cast(data["reading_time"].as_integer(), Integer)), 0),
            now,
        )
        .select_from(UserEvent)
        .join(Episode, Episode.id == episode_id)
        .join(Project, Project.id == Episode.project_id)
        .where(*in_day, UserEvent.event_type == READ_EVENT)
        .group_by(Project.organization_id, Episode.id)
    )
    await session.execute(
        insert(EpisodeReadingDaily).from_select(
            [
                "organization_id",
                "episode_id",
                "date",
                "opens",
                "readers",
                "reading_time",
                "updated_at",
            ],
            reading,
        )
    )
    counts = {}
    for table in (DailyEventCount, DailyActiveUsers, EpisodeReadingDaily):
        counts[table.__tablename__] = int(
            await session.scalar(select(func.count()).where(table.date == day)) or 0
        )
    return counts


def days_of(payload: dict[str, Any]) -> list[date]:
    """The days a run covers: ``payload["date"]`` (ISO), else the last ``payload["days"]``
    UTC days (default 2: yesterday, for late events, and today)."""
    raw = payload.get("date")
    if raw is not None:
        try:
            return [date.fromisoformat(str(raw))]
        except ValueError as exc:
            raise PermanentJobError(f"bad date {raw!r}") from exc
    count = payload.get("days", 2)
    if not isinstance(count, int) or not 1 <= count <= 31:
        raise PermanentJobError(f"days must be 1..31, not {count!r}")
    today = utcnow().date()
    return [today - timedelta(days=back) for back in reversed(range(count))]


async def aggregate(ctx: TaskContext, payload: dict[str, Any]) -> TaskResult:
    """Rebuild the aggregates of the days :func:`days_of` names, one transaction each."""
    done = {
        day.isoformat(): await ctx.db.transaction(functools.partial(aggregate_day, day=day))
        for day in days_of(payload)
    }
    return {"days": done}


def register(registry: Registry, *, periodic: bool = True) -> None:
    """Add the analytics roll-up task (and its five-minute schedule) to ``registry``."""
    registry.add(TaskSpec("analytics.aggregate", aggregate, queue="maintenance", max_attempts=3))
    if periodic:
        registry.add_periodic(Periodic("analytics.aggregate", "analytics.aggregate", every=300))
