"""``usage.aggregate``: recompute ``token_usage_daily`` from the raw rows of a day.

The raw rows are chat messages (tokens of a user's organization) and ``token_usage`` user
events (``event_data``: ``organization_id``, ``tokens_in``, ``tokens_out``, ``cost_minor``;
episode generation writes these). Recomputing — not incrementing — makes the task
idempotent: running it twice, or after generation already bumped the aggregate for a quota
check, gives the same totals.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db import portable
from stratabase.db.types import utcnow
from stratabase.jobs.errors import PermanentJobError
from stratabase.jobs.registry import Registry, TaskContext, TaskResult, TaskSpec
from stratabase.jobs.schedule import Periodic
from stratabase.models.accounts import User
from stratabase.models.events import TokenUsageDaily, UserEvent
from stratabase.models.publishing import ChatMessage, ChatSession

USAGE_EVENT = "token_usage"


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), UTC)
    return start, start + timedelta(days=1)


async def aggregate_day(session: AsyncSession, day: date) -> int:
    """Write the day's totals per organization; returns how many organizations."""
    start, end = _day_bounds(day)
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    chat = (
        select(
            User.organization_id, func.sum(ChatMessage.tokens_in), func.sum(ChatMessage.tokens_out)
        )
        .join(ChatSession, ChatMessage.session_id == ChatSession.id)
        .join(User, ChatSession.user_id == User.id)
        .where(
            ChatMessage.created_at >= start,
            ChatMessage.created_at < end,
            User.organization_id.is_not(None),
        )
        .group_by(User.organization_id)
    )
    for org_id, tokens_in, tokens_out in await session.execute(chat):
        if org_id is None:
            continue
        totals[org_id][0] += int(tokens_in or 0)
        totals[org_id][1] += int(tokens_out or 0)
    data = UserEvent.event_data
    org = func.coalesce(data["organization_id"].as_integer(), User.organization_id)
    events = (
        select(
            org,
            func.sum(data["tokens_in"].as_integer()),
            func.sum(data["tokens_out"].as_integer()),
            func.sum(data["cost_minor"].as_integer()),
        )
        .select_from(UserEvent)
        .outerjoin(User, UserEvent.user_id == User.id)
        .where(
            UserEvent.event_type == USAGE_EVENT,
            UserEvent.created_at >= start,
            UserEvent.created_at < end,
        )
        .group_by(org)
    )
    for org_id, tokens_in, tokens_out, cost in await session.execute(events):
        if org_id is None:
            continue
        totals[org_id][0] += int(tokens_in or 0)
        totals[org_id][1] += int(tokens_out or 0)
        totals[org_id][2] += int(cost or 0)
    if not totals:
        return 0
    rows = [
        {
            "organization_id": org_id,
            "date": day,
            "tokens_in": t_in,
            "tokens_out": t_out,
            "cost_minor": cost,
            "updated_at": utcnow(),
        }
        for org_id, (t_in, t_out, cost) in sorted(totals.items())
    ]
    statement = portable.upsert(
        session,
        TokenUsageDaily,
        rows,
        on=[TokenUsageDaily.organization_id, TokenUsageDaily.date],
        update=["tokens_in", "tokens_out", "cost_minor", "updated_at"],
    )
    await session.execute(statement)
    return len(rows)


async def aggregate(ctx: TaskContext, payload: dict[str, Any]) -> TaskResult:
    """Aggregate ``payload["date"]`` (ISO), or today and yesterday (late rows) in UTC."""
    if "date" in payload:
        try:
            days = [date.fromisoformat(str(payload["date"]))]
        except ValueError as exc:
            raise PermanentJobError(f"bad date {payload['date']!r}") from exc
    else:
        today = utcnow().date()
        days = [today - timedelta(days=1), today]
    counts = {}
    for day in days:
        counts[day.isoformat()] = await ctx.db.transaction(
            functools.partial(aggregate_day, day=day)
        )
    return {"organizations": counts}


def register(registry: Registry, *, periodic: bool = True) -> None:
    """Add the usage roll-up task (and its schedule) to ``registry``."""
    registry.add(TaskSpec("usage.aggregate", aggregate, queue="maintenance", max_attempts=3))
    if periodic:
        registry.add_periodic(Periodic("usage.aggregate", "usage.aggregate", every=300))
