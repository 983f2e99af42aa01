"""``GET /v1/analytics/organizations/{id}/…``: an organization admin's dashboards."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query

from stratabase.analytics import service
from stratabase.analytics.schemas import AnalyticsOut
from stratabase.api.deps import CurrentUserDep, DatabaseDep
from stratabase.api.routes._params import ObjectId
from stratabase.api.routes._router import public_router

router = public_router("/v1/analytics", "analytics")


def _DAY(description: str) -> Any:
    return Query(max_length=10, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description=description)


Series = Literal["active-users", "events", "reading-time", "token-usage"]


@router.get("/organizations/{organization_id}/{name}", response_model=AnalyticsOut)
async def organization_series(
    organization_id: ObjectId,
    name: Series,
    principal: CurrentUserDep,
    db: DatabaseDep,
    since: Annotated[str | None, _DAY(description="first UTC day (default: 29 days ago)")] = None,
    until: Annotated[str | None, _DAY(description="last UTC day (default: today)")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="reading-time: top episodes")] = 100,
) -> AnalyticsOut:
    """One series over at most 366 days, from the aggregate tables (refreshed every five
    minutes by ``analytics.aggregate``): ``active-users`` per day, ``events`` per type and
    day, ``reading-time`` per episode (most read first), ``token-usage`` per day against
    the daily quota. Only the organization's admins (403 otherwise)."""
    first, last = service.parse_day(since, "since"), service.parse_day(until, "until")
    return await service.series(
        db, principal, organization_id, name, since=first, until=last, limit=limit
    )
