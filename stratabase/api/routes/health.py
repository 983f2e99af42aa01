"""Liveness and readiness: what a load balancer and an operator ask first.

- ``/health``: the overall report (database, Redis, cache, rate limiter);
- ``/health/live``: liveness, no I/O at all (the process answers);
- ``/health/ready``: database, cache and queue reachable, else 503 problem+json naming
  which are not (``not_ready``);
- ``/health/db``, ``/health/cache``, ``/health/stats``: one part in detail.

Anyone gets a summary (status, backend, latency): pool sizes, query counts, cache
counters, row counts and error texts describe the deployment, so they are shown to
administrators, or to everyone when ``STRATABASE_HEALTH_DETAILS`` is on.
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
    StratabaseDep,
    get_rate_limiter,
)
from stratabase.api.errors import PROBLEM_JSON, problem
from stratabase.api.routes._router import api_router
from stratabase.api.schemas.common import EDGE_STATUSES, problem_responses
from stratabase.auth.principal import Principal
from stratabase.exceptions import PermissionDenied
from stratabase.observability.health import check_all, check_database
from stratabase.settings import Settings

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


def _details_allowed(settings: Settings, principal: Principal | None) -> bool:
    return settings.health_details or (principal is not None and principal.is_admin)


class Liveness(BaseModel):
    """The process answers; nothing else was asked."""

    status: Literal["ok"]


class Readiness(BaseModel):
    """Every part this process needs answered (a 503 problem+json names those that did not)."""

    status: Literal["ready"]
    checks: dict[str, dict[str, Any]]


@router.get("/health/live", response_model=Liveness)
async def health_live() -> JSONResponse:
    """Liveness: 200 while the process serves requests; no database, no Redis."""
    return JSONResponse({"status": "ok"})


@router.get(
    "/health/ready",
    response_model=Readiness,
    responses=problem_responses((401,)),
)
async def health_ready(
    request: Request, sb: StratabaseDep, principal: OptionalUserDep
) -> JSONResponse:
    """Readiness: database, cache (Redis when configured) and job queue reachable; else 503
    problem+json with ``not_ready`` listing the parts that are not."""
    report = await sb.observability.ready()
    checks = report["checks"]
    if not _details_allowed(sb.settings, principal):
        checks = {name: _summary(check) for name, check in checks.items()}
    if not report["ready"]:
        return problem(
            503,
            code="not-ready",
            detail="not ready: " + ", ".join(report["not_ready"]) + " unreachable",
            instance=request.url.path,
            not_ready=report["not_ready"],
            checks=checks,
        )
    return JSONResponse({"status": "ready", "checks": checks})


@router.get("/health/cache", responses=problem_responses((401,)))
async def health_cache(sb: StratabaseDep, principal: OptionalUserDep) -> JSONResponse:
    """The cache: latency per tier, the Redis breaker, hit rates per namespace (details for
    administrators; others get the status and mode)."""
    report = await sb.observability.cache()
    if not _details_allowed(sb.settings, principal):
        report = _summary(report)
    return JSONResponse(report)


@router.get("/health/stats", responses=problem_responses((401, 403)))
async def health_stats(sb: StratabaseDep, principal: OptionalUserDep) -> JSONResponse:
    """Row counts: users, posts by kind and status, comments, follows, transfers, jobs by
    status, change-feed subscribers; cached ``STRATABASE_HEALTH_STATS_TTL`` seconds.
    Administrators only (or everyone with ``STRATABASE_HEALTH_DETAILS``)."""
    if not _details_allowed(sb.settings, principal):
        raise PermissionDenied("administrators only")
    stats = await sb.observability.stats()
    return JSONResponse(stats.as_dict())
