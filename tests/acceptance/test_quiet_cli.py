"""Quiet means quiet: the dev-workflow commands move many rows per statement, which is bulk
work, not a slow query, so they print no slow-query warnings (even at a 0 ms threshold)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from stratabase.db.monitor import bulk_work
from stratabase.db.session import Database
from stratabase.settings import load_settings

STRATABASE = [sys.executable, "-m", "stratabase"]


def _run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    # Every statement is "slow" at these thresholds: only bulk marking keeps them quiet.
    env |= {
        "STRATABASE_DATABASE_URL": url,
        "STRATABASE_SLOW_QUERY_MS": "0.000001",
        "STRATABASE_WARN_QUERY_MS": "0.000001",
    }
    return subprocess.run(
        [*STRATABASE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_seed_switch_clean_reset_print_no_slow_queries(sqlite_url: str) -> None:
    migrated = _run(sqlite_url, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    for args in (
        ("seed", "--size", "tiny", "-q"),
        ("switch-theme", "tech", "-q"),
        ("clean",),
        ("reset", "--size", "tiny", "-q", "--yes"),
    ):
        done = _run(sqlite_url, *args)
        assert done.returncode == 0, done.stderr
        assert "slow query" not in done.stderr, (args, done.stderr[:500])
        if "-q" in args:
            assert done.stdout == "", args


@pytest.fixture
def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    return f"sqlite:///{tmp_path}/quiet.db"


async def test_bulk_statements_are_timed_but_not_slow(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(
        database_url=database_url, slow_query_ms=0.000_001, warn_query_ms=0.000_001
    )
    db = Database(settings)
    try:
        with caplog.at_level(logging.INFO, logger="stratabase.db.queries"):
            with bulk_work():
                async with db.session() as session:
                    await session.execute(text("SELECT 1"))
            assert caplog.records == []
            assert db.monitor.stats.count >= 1 and db.monitor.stats.slow == 0
            async with db.session() as session:  # outside the block: a slow query again
                await session.execute(text("SELECT 2"))
    finally:
        await db.dispose()
    assert any("slow query" in record.getMessage() for record in caplog.records)
    assert db.monitor.stats.slow >= 1
