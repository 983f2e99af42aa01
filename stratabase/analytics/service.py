"""What an organization's admin reads: series served from the aggregate tables only.

Every read takes a range of UTC days (at most :data:`MAX_DAYS`) and answers from
``analytics_*`` and ``token_usage_daily``: its cost depends on the days and episodes
asked for, never on how many raw events there are. The numbers are as fresh as the last
``analytics.aggregate`` run (every five minutes); token usage is charged as messages are
sent, so it is current.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.analytics.access import require_org_admin
from stratabase.analytics.schemas import (
    ActiveUsersDay,
    AnalyticsOut,
    EpisodeReading,
    EventsDay,
    TokenUsageDay,
)
from stratabase.auth.principal import Principal
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.exceptions import InvalidInput, NotFound
from stratabase.models import (
    DailyActiveUsers,
    DailyEventCount,
    EpisodeReadingDaily,
    Organization,
    TokenUsageDaily,
)

#: Longest range one analytics read may cover, in days.
MAX_DAYS = 366
#: Default range: the last 30 days, today included.
DEFAULT_DAYS = 30

SERIES = ("active-users", "events", "reading-time", "token-usage")


def parse_day(value: str | None, field: str) -> date | None:
    """An ISO day (``2026-12-07``) from a query parameter, or InvalidInput on ``field``."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{value!r} is not a day (YYYY-MM-DD)", field=field) from None


def day_range(since: date | None, until: date | None) -> tuple[date, date]:
    """The range asked for (default: the last 30 days), or InvalidInput."""
    until = until or utcnow().date()
    since = since or until - timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        raise InvalidInput("since is after until", field="since")
    if (until - since).days >= MAX_DAYS:
        raise InvalidInput(f"at most {MAX_DAYS} days at a time", field="since")
    return since, until


async def _quota(session: AsyncSession, organization_id: int) -> int:
    quota = await session.scalar(
        select(Organization.token_quota).where(Organization.id == organization_id)
    )
    if quota is None:
        raise NotFound(f"organization {organization_id} does not exist", field="organization_id")
    return int(quota)


async def series(
    db: Database,
    principal: Principal,
    organization_id: int,
    name: str,
    *,
    since: date | None,
    until: date | None,
    limit: int = 100,
) -> AnalyticsOut:
    """One series (:data:`SERIES`) for an organization the caller administers."""
    first, last = day_range(since, until)
    async with db.session() as session:
        await require_org_admin(session, principal, organization_id)
        quota = await _quota(session, organization_id)
        items: list[object]
        if name == "active-users":
            t = DailyActiveUsers
            rows = await session.execute(
                select(t.date, t.active_users)
                .where(t.organization_id == organization_id, t.date.between(first, last))
                .order_by(t.date)
            )
            items = [ActiveUsersDay(date=d, active_users=n) for d, n in rows]
        elif name == "events":
            e = DailyEventCount
            typed = await session.execute(
                select(e.date, e.event_type, e.events, e.users)
                .where(e.organization_id == organization_id, e.date.between(first, last))
                .order_by(e.date, e.event_type)
            )
            items = [EventsDay(date=d, event_type=k, events=n, users=u) for d, k, n, u in typed]
        elif name == "reading-time":
            r = EpisodeReadingDaily
            total = func.sum(r.reading_time)
            episodes = await session.execute(
                select(r.episode_id, func.sum(r.opens), func.sum(r.readers), total)
                .where(r.organization_id == organization_id, r.date.between(first, last))
                .group_by(r.episode_id)
                .order_by(total.desc(), r.episode_id)
                .limit(limit)
            )
            items = [
                EpisodeReading(episode_id=i, opens=o, readers=n, reading_time=s)
                for i, o, n, s in episodes
            ]
        else:
            u = TokenUsageDaily
            usage = await session.execute(
                select(u.date, u.tokens_in, u.tokens_out, u.cost_minor)
                .where(u.organization_id == organization_id, u.date.between(first, last))
                .order_by(u.date)
            )
            items = [
                TokenUsageDay(
                    date=d, tokens_in=i, tokens_out=o, used=i + o, quota=quota, cost_minor=c
                )
                for d, i, o, c in usage
            ]
    return AnalyticsOut(organization_id=organization_id, since=first, until=last, items=items)
