"""A CLI command run next to a serving embedded process (no Redis) is seen by its next reads.

The server caches the category list for 30 minutes and platform stats for 24 hours;
``switch-theme``, ``clean``, ``seed --append`` and ``ledger mint`` run in another process
and bump the database's cache generation, which the server checks at most every
``CHECK_INTERVAL`` (0.5 s) on a cache read.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

from sqlalchemy import update

from stratabase.cache import memory_cache
from stratabase.cache.durable import read_generation
from stratabase.db.session import Database
from stratabase.models import Category
from stratabase.seed import orchestrator
from stratabase.seed.sizes import SIZES
from stratabase.settings import Settings
from tests.integration.cache_wiring_support import serve

DEADLINE = 20.0


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env["STRATABASE_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "stratabase", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


async def _slugs(api: Any) -> set[str]:
    response = await api.http.get("/v1/categories", params={"limit": 100})
    assert response.status_code == 200, response.text
    return {item["slug"] for item in response.json()["items"]}


async def _names(api: Any) -> set[str]:
    response = await api.http.get("/v1/categories", params={"limit": 100})
    assert response.status_code == 200, response.text
    return {item["name"] for item in response.json()["items"]}


async def _until(check: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await check():
        assert time.monotonic() < deadline, f"the server never saw {what}"
        await asyncio.sleep(0.05)


async def _generation(db: Database) -> int:
    async with db.session() as session:
        return await read_generation(session)


def _cached_hits(cache: Any) -> int:
    return int(cache.metrics.totals().get("hits", 0))


async def test_cli_changes_reach_a_running_embedded_server(
    settings: Settings, db: Database, database_url: str
) -> None:
    assert settings.embedded
    await orchestrator.seed(db, theme="politics", size=SIZES["tiny"], seed=3)
    cache = memory_cache()
    try:
        async with serve(settings, db, cache) as api:
            assert "elections" in await _slugs(api)
            hits = _cached_hits(cache)
            assert "elections" in await _slugs(api)
            assert _cached_hits(cache) > hits  # served from the server's cache

            result = await asyncio.to_thread(_cli, database_url, "switch-theme", "tech")
            assert result.returncode == 0, result.stderr

            async def switched() -> bool:
                slugs = await _slugs(api)
                return "ai" in slugs and "elections" not in slugs

            await _until(switched, "the switched theme")

            # Data changed behind the API (plain SQL), then `clean`: seen at once as well.
            async def rename(session: Any) -> None:
                await session.execute(
                    update(Category).where(Category.slug == "ai").values(name="Renamed")
                )

            await db.transaction(rename)
            assert "Renamed" not in await _names(api)  # still the cached page
            result = await asyncio.to_thread(_cli, database_url, "clean")
            assert result.returncode == 0, result.stderr
            assert "cache: done" in result.stdout

            async def renamed() -> bool:
                return "Renamed" in await _names(api)

            await _until(renamed, "the change announced by `clean`")

            # `seed --append` adds posts: the cached platform stats (24 h) follow at once.
            published = int((await api.http.get("/v1/stats")).json()["posts"])
            assert int((await api.http.get("/v1/stats")).json()["posts"]) == published
            result = await asyncio.to_thread(
                _cli, database_url, "seed", "--append", "--theme", "tech", "--size", "tiny",
                "--seed", "4", "--quiet",
            )  # fmt: skip
            assert result.returncode == 0, result.stderr

            async def grown() -> bool:
                return int((await api.http.get("/v1/stats")).json()["posts"]) > published

            await _until(grown, "the posts added by `seed --append`")

            # `ledger mint` announces too (nothing cached reads the ledger today).
            before = await _generation(db)
            result = await asyncio.to_thread(
                _cli, database_url, "ledger", "mint", "--user", "1", "--amount", "5",
                "--reason", "test",
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            assert await _generation(db) != before
    finally:
        await cache.close()
