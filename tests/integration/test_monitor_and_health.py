"""The query monitor counts and times statements; health reports reality."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select, text

from stratabase.db.health import check_database, check_redis
from stratabase.db.session import Database
from stratabase.models import User
from stratabase.observability.health import check_all
from stratabase.settings import load_settings


async def test_count_statements_inside_a_block(db: Database) -> None:
    async with db.session() as session:
        with db.monitor.count() as counter:
            for _ in range(3):
                await session.execute(select(User).limit(1))
        await session.execute(select(User).limit(1))  # outside the block
    assert counter.statements == 3
    assert all("users" in sql for sql in counter.sql)


async def test_stats_and_histogram_accumulate(db: Database) -> None:
    db.monitor.reset()
    async with db.session() as session:
        for _ in range(5):
            await session.execute(text("SELECT 1"))
        with pytest.raises(Exception):  # noqa: B017  any driver error
            await session.execute(text("SELECT * FROM no_such_table"))
    stats = db.monitor.stats.as_dict()
    assert stats["count"] >= 5
    assert stats["errors"] == 1
    assert sum(stats["histogram"].values()) == stats["count"]
    assert stats["avg_ms"] > 0


async def test_slow_statements_are_logged_without_values(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(
        database_url=database_url, slow_query_ms=0.000_001, warn_query_ms=0.000_001
    )
    db = Database(settings)
    try:
        with caplog.at_level(logging.INFO, logger="stratabase.db.queries"):
            async with db.session() as session:
                await session.execute(
                    select(User).where(User.email == "secret@example.com", User.id == 12345)
                )
    finally:
        await db.dispose()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "slow query" in logged
    assert "secret@example.com" not in logged
    assert db.monitor.stats.slow >= 1


async def test_database_health_reports_latency_and_pool(db: Database) -> None:
    report = await check_database(db)
    assert report["status"] == "ok"
    assert report["backend"] == db.backend
    assert report["latency_ms"] > 0
    assert set(report["pool"]) == {"size", "checked_out", "idle", "waiting"}


async def test_unreachable_database_is_down() -> None:
    db = Database(load_settings(database_url="postgresql://postgres@127.0.0.1:1/none"))
    try:
        report = await check_all(db, "")
    finally:
        await db.dispose()
    assert report["status"] == "down"
    assert "cannot reach" in report["checks"]["database"]["error"]


async def test_redis_health(redis_url: str) -> None:
    ok = await check_redis(redis_url)
    assert ok["status"] == "ok" and ok["latency_ms"] > 0
    down = await check_redis("redis://127.0.0.1:1/0", timeout=0.5)
    assert down["status"] == "down"
    assert (await check_redis(""))["mode"] == "embedded"
