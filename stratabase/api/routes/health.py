"""Liveness and readiness: what a load balancer and an operator ask first.

Both answer anyone, but only with a summary (status, backend, latency): pool sizes, query
counts, cache totals and error texts describe the deployment, so they are shown to
administrators on ``/health/db``, or to everyone when ``STRATABASE_HEALTH_DETAILS`` is on.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from stratabase.api.deps import (
    CacheDep,
    DatabaseDep,
    OptionalUserDep,
    SettingsDep,
    get_rate_limiter,
)
from stratabase.api.errors import PROBLEM_JSON
from stratabase.api.routes._router import api_router
from stratabase.api.schemas.common import EDGE_STATUSES, problem_responses
from stratabase.db.health import check_all, check_database

#: Not rate limited: a load balancer probes as often as it likes.
router = api_router(tag="health", statuses=EDGE_STATUSES, rate_limited=False)

#: What a check shows to anyone; every other key is a detail.
SUMMARY_KEYS = frozenset({"status", "backend", "mode", "latency_ms"})


class HealthResponse(BaseModel):
    """The overall report: each check's summary (details when allowed)."""

    status: Literal["ok", "degraded", "down"]
    checks: dict[str, dict[str, Any]]


class DatabaseHealth(BaseModel):
    """The database check; pool and query figures are details."""

    status: Literal["ok", "down"]
    backend: str
    latency_ms: float | None = None
    #: Details: administrators only, unless STRATABASE_HEALTH_DETAILS is on.
    pool: dict[str, int] | None = None
    queries: dict[str, Any] | None = None
    error: str | None = None


def _summary(check: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in check.items() if key in SUMMARY_KEYS}


def _down(model: type[BaseModel], also_problem: bool = False) -> dict[int | str, Any]:
    """The 503 of a health route: its own report, not a problem (a probe reads it)."""
    description = "the database is down"
    content: dict[str, Any] = {}
    if also_problem:
        description += " (problem+json if it fails while checking the caller's token)"
        content[PROBLEM_JSON] = {"schema": {"$ref": "#/components/schemas/ProblemOut"}}
    return {503: {"model": model, "description": description, "content": content}}


@router.get("/health", response_model=HealthResponse, responses=_down(HealthResponse))
async def health(
    request: Request, db: DatabaseDep, settings: SettingsDep, cache: CacheDep
) -> JSONResponse:
    """Overall status: 200 when ok or degraded (Redis down), 503 when the database is down."""
    report = await check_all(db, settings.redis_url, cache, get_rate_limiter(request))
    if not settings.health_details:
        report["checks"] = {name: _summary(check) for name, check in report["checks"].items()}
    return JSONResponse(report, status_code=503 if report["status"] == "down" else 200)


@router.get(
    "/health/db",
    response_model=DatabaseHealth,
    responses={
        **_down(DatabaseHealth, also_problem=True),
        **problem_responses((401,)),
    },
)
async def health_db(
    db: DatabaseDep, settings: SettingsDep, principal: OptionalUserDep
) -> JSONResponse:
    """Database round-trip latency; pool usage and query statistics for administrators."""
    report = await check_database(db)
    if not (settings.health_details or (principal is not None and principal.is_admin)):
        report = _summary(report)
    return JSONResponse(report, status_code=503 if report["status"] != "ok" else 200)
