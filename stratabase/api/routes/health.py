"""Liveness and readiness: what a load balancer and an operator ask first."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from stratabase.api.deps import CacheDep, DatabaseDep, SettingsDep, get_rate_limiter
from stratabase.db.health import check_all, check_database

router = APIRouter(tags=["health"])


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded", "down"]
    checks: dict[str, dict[str, Any]]


class DatabaseHealth(BaseModel):
    status: Literal["ok", "down"]
    backend: str
    latency_ms: float | None = None
    pool: dict[str, int] | None = None
    queries: dict[str, Any] | None = None
    error: str | None = None


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "the database is down"}},
)
async def health(
    request: Request, db: DatabaseDep, settings: SettingsDep, cache: CacheDep
) -> JSONResponse:
    """Overall status: 200 when ok or degraded (Redis down), 503 when the database is down."""
    report = await check_all(db, settings.redis_url, cache, get_rate_limiter(request))
    return JSONResponse(report, status_code=503 if report["status"] == "down" else 200)


@router.get(
    "/health/db",
    response_model=DatabaseHealth,
    responses={503: {"model": DatabaseHealth, "description": "the database is down"}},
)
async def health_db(db: DatabaseDep) -> JSONResponse:
    """Database round-trip latency, pool usage and query statistics."""
    report = await check_database(db)
    return JSONResponse(report, status_code=503 if report["status"] != "ok" else 200)
