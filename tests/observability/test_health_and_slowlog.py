"""Health endpoints (liveness, readiness flipping when a private Redis dies, cache, stats),
the slow-query log (bounded, tied to its request), the queries CLI and JSON logs."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from stratabase.api.app import create_app
from stratabase.cache import memory_cache
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import Role
from stratabase.models import QueryLog
from stratabase.observability import context
from stratabase.observability.logs import JsonFormatter, RequestIdFilter
from stratabase.observability.slowlog import SlowQueryRecorder, prune, top_statements
from stratabase.settings import Settings
from tests.acceptance.api_support import NO_LIMITS, Api, assert_problem, make_api
from tests.faults_support import RedisServer


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for value in make_api(settings, db):
        yield value


async def test_liveness_readiness_cache_and_stats(api: Api) -> None:
    user, admin = await api.user(), await api.user(role=Role.ADMIN)
    await api.post(user, kind="note")
    assert (await api.http.get("/health/live")).json() == {"status": "ok"}

    ready = await api.http.get("/health/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready" and set(body["checks"]) == {"database", "cache", "queue"}

    summary = (await api.http.get("/health/cache")).json()
    assert summary["status"] == "ok" and "tiers" not in summary
    detailed = (await api.http.get("/health/cache", headers=admin.headers)).json()
    assert detailed["tiers"]["local"]["latency_ms"] >= 0
    assert "overall" in detailed["hit_rate"]

    assert_problem(await api.http.get("/health/stats"), 403)
    assert_problem(await api.http.get("/health/stats", headers=user.headers), 403)
    stats = (await api.http.get("/health/stats", headers=admin.headers)).json()
    assert stats["users"] >= 2
    assert stats["posts"]["note"]["published"] >= 1
    assert {"comments", "follows", "transfers", "jobs"} <= set(stats)
    # Cached: a new user shows only after the TTL (or a fresh read).
    await api.user()
    assert (await api.http.get("/health/stats", headers=admin.headers)).json() == stats

    # /health and /health/db keep their shapes.
    assert (await api.http.get("/health")).json()["status"] == "ok"
    assert "pool" in (await api.http.get("/health/db", headers=admin.headers)).json()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


async def test_readiness_flips_when_redis_dies(
    settings: Settings, db: Database, redis_server: RedisServer
) -> None:
    settings = settings.model_copy(update={"redis_url": redis_server.url})
    cache = memory_cache()
    app = create_app(settings, database=db, cache=cache, rate_limits=NO_LIMITS)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            assert (await http.get("/health/ready")).status_code == 200
            redis_server.stop()
            down = assert_problem(await http.get("/health/ready"), 503)
            assert down["not_ready"] == ["cache"]
            assert "cache" in down["detail"]
            assert down["checks"]["database"]["status"] == "ok"
            assert (await http.get("/health/live")).status_code == 200
            redis_server.start()
            assert (await http.get("/health/ready")).status_code == 200
    finally:
        await app.state.stratabase.limiter.close()
        await cache.close()


async def test_recorder_is_bounded_by_rate_and_buffer(db: Database) -> None:
    now = [1000.0]
    recorder = SlowQueryRecorder(db, max_per_second=7, buffer_size=50, clock=lambda: now[0])
    for _ in range(10_000):  # a storm within one second: 7 kept
        recorder.statement("SELECT * FROM users WHERE id = 1", 250.0, slow=True)
    assert len(recorder.buffer) == 7 and recorder.dropped == 10_000 - 7
    for second in range(20):  # then one per second for a while: the buffer caps it
        now[0] = 1001.0 + second
        for _ in range(10):
            recorder.statement("SELECT 2", 150.0, slow=True)
    assert len(recorder.buffer) == 50
    recorder.statement("SELECT 3", 10.0, slow=False)  # not slow: never kept
    with db.monitor.count() as counter:  # the log's own writes are not the app's statements
        assert await recorder.flush() == 50
    assert counter.statements == 0
    assert recorder.buffer == type(recorder.buffer)()
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(QueryLog)) == 50
    top = await top_statements(db)
    assert [row.query for row in top] == ["SELECT ?", "SELECT * FROM users WHERE id = ?"]
    assert top[0].count == 43 and top[0].max_ms == 150.0 and top[0].mean_ms == 150.0
    # Retention: everything is older than a cutoff in the future.
    assert await prune(db, older_than=timedelta(0), now=utcnow() + timedelta(seconds=1)) == 50


async def test_slow_statements_carry_route_user_and_request_id(settings: Settings) -> None:
    tiny = {"slow_query_ms": 0.000_001, "warn_query_ms": 0.000_001, "slow_query_log_rate": 10_000}
    settings = settings.model_copy(update=tiny)
    db = Database(settings)  # its query monitor takes the thresholds
    try:
        await _check_slow_statements(settings, db)
    finally:
        await db.dispose()


async def _check_slow_statements(settings: Settings, db: Database) -> None:
    async for api in make_api(settings, db):
        user = await api.user()
        sb = api.http._transport.app.state.stratabase  # type: ignore[attr-defined]
        response = await api.http.get(
            "/v1/me", headers={**user.headers, "X-Request-ID": "slow-req-1"}
        )
        assert response.status_code == 200, response.text
        await sb.observability.recorder.flush()
        async with db.session() as session:
            rows = (
                (await session.execute(select(QueryLog).where(QueryLog.request_id == "slow-req-1")))
                .scalars()
                .all()
            )
        assert rows, "the request's statements were recorded"
        assert {row.origin for row in rows} <= {"GET /v1/me", None}
        assert any(row.origin == "GET /v1/me" and row.user_id == user.id for row in rows)
        assert all("'" not in row.query for row in rows)  # normalised: no literal values
        await sb.observability.close()


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord(
        "stratabase.db.queries", logging.WARNING, "", 0, "slow %d", (5,), None
    )
    token = context.bind(context.RequestContext("json-req", origin="job:noop"))
    try:
        RequestIdFilter().filter(record)
    finally:
        context.unbind(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "json-req" and line["origin"] == "job:noop"
    assert line["message"] == "slow 5" and line["level"] == "WARNING"


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env["STRATABASE_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "stratabase", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_queries_cli(database_url: str, db: Database, backend: str) -> None:
    recorder = SlowQueryRecorder(db)
    recorder.statement("SELECT * FROM posts WHERE posts.author_id = 3", 300.0, slow=True)
    recorder.statement("SELECT * FROM posts WHERE posts.author_id = 4", 100.0, slow=True)
    await recorder.flush()
    slow = _cli(database_url, "queries", "slow", "--since", "1h", "--top", "5", "--json")
    assert slow.returncode == 0, slow.stderr
    rows = json.loads(slow.stdout)
    assert rows[0]["count"] == 2 and rows[0]["total_ms"] == 400.0 and rows[0]["max_ms"] == 300.0
    bad = _cli(database_url, "queries", "slow", "--since", "yesterday")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    indexes = _cli(database_url, "queries", "indexes", "--json")
    if backend == "sqlite":
        assert indexes.returncode == 1
        assert (
            "needs PostgreSQL" in indexes.stderr and len(indexes.stderr.strip().splitlines()) == 1
        )
    else:
        assert indexes.returncode == 0, indexes.stderr
        report = json.loads(indexes.stdout)
        assert any(row["table"] == "posts" for row in report["indexes"])
        assert isinstance(report["suggestions"], list)
    health = _cli(database_url, "health", "--json")
    assert health.returncode == 0, health.stderr
    report = json.loads(health.stdout)
    assert report["ready"]["ready"] is True and report["stats"]["users"] >= 0
