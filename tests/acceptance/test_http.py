"""The app as an HTTP client sees it: health, OpenAPI, problem+json errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from stratabase.api.app import create_app
from stratabase.db.session import Database
from stratabase.settings import Settings, load_settings


@pytest.fixture
async def client(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, database=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def test_health_ok(client: httpx.AsyncClient, backend: str) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["backend"] == backend
    assert body["checks"]["redis"]["mode"] == "embedded"


async def test_health_db_reports_latency(client: httpx.AsyncClient) -> None:
    body = (await client.get("/health/db")).json()
    assert body["status"] == "ok"
    assert body["latency_ms"] > 0
    assert "pool" not in body  # details are for admins (tests/acceptance/test_api_edge.py)


async def test_health_is_degraded_when_redis_is_down(settings: Settings, db: Database) -> None:
    degraded = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    app = create_app(degraded, database=db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        response = await http.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"


async def test_health_is_503_when_database_is_down() -> None:
    settings = load_settings(database_url="postgresql://postgres@127.0.0.1:1/none")
    db = Database(settings)
    app = create_app(settings, database=db)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as http:
            response = await http.get("/health")
            db_response = await http.get("/health/db")
    finally:
        await db.dispose()
    assert response.status_code == 503
    assert response.json()["status"] == "down"
    assert db_response.status_code == 503


async def test_openapi_lists_health_routes(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["info"]["title"] == "Stratabase"
    assert {"/health", "/health/db"} <= set(spec["paths"])


async def test_unknown_route_is_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 404 and body["title"] == "Not Found" and body["instance"] == "/nope"
