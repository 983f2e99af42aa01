"""``stratabase clean`` clears the shared cache and rebuilds search, leaving data alone."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from stratabase.cache.factory import redis_cache

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _clean(env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "stratabase", "clean"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )


async def test_clean_empties_every_redis_namespace(
    database_url: str, redis_url: str, redis_prefix: str
) -> None:
    cache = redis_cache(redis_url, redis_prefix)
    try:
        await cache.set("post:1", {"title": "cached"})
        await cache.set("profile:1", {"name": "cached"})
        assert await cache.get("post:1") == {"title": "cached"}
        result = await asyncio.to_thread(
            _clean,
            {
                "STRATABASE_DATABASE_URL": database_url,
                "STRATABASE_REDIS_URL": redis_url,
                "STRATABASE_REDIS_PREFIX": redis_prefix,
            },
        )
        assert result.returncode == 0, result.stderr
        assert "cache: done" in result.stdout
        assert "search: done" in result.stdout
        assert await cache.get("post:1") is None
        assert await cache.get("profile:1") is None
    finally:
        await cache.close()


def test_clean_embedded_tells_running_servers_to_flush(database_url: str) -> None:
    result = _clean({"STRATABASE_DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    assert "cache: done" in result.stdout and "generation" in result.stdout
