"""``stratabase cache stats`` reports our prefix's keys and memory as ours, and labels the
server-wide ``INFO`` figures (other tenants' keys and traffic) as server-wide."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from redis.asyncio import Redis

from stratabase.cache import redis_cache


def _stats(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    full_env |= env | {"COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "stratabase", "cache", "stats", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_stats_count_only_our_prefix(redis_url: str, redis_prefix: str) -> None:
    other = redis_prefix.rstrip(":") + "-other-tenant:"  # not under our prefix
    client = Redis.from_url(redis_url)
    cache = redis_cache(redis_url, redis_prefix)
    try:
        await client.set(other + "big", b"x" * 200_000)
        for n in range(40):
            await client.set(f"{other}k{n}", b"y")
        await cache.set_many({"post:1": 1, "post:2": 2})
        await cache.set("profile:1", "p", tags=["user:1"])
        ours = [key async for key in client.scan_iter(match=redis_prefix + "*")]
        ours_memory = sum([await client.memory_usage(key) or 0 for key in ours])

        env = {"STRATABASE_REDIS_URL": redis_url, "STRATABASE_REDIS_PREFIX": redis_prefix}
        done = await asyncio.to_thread(_stats, "--json", env=env)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["entries"] == {"post": 2, "profile": 1}
        assert report["ours"]["keys"] == len(ours) >= 3
        assert report["ours"]["memory_bytes"] == ours_memory < 200_000
        assert report["ours"]["memory_estimated"] is False
        assert "every tenant" in report["server"]["scope"]

        text = await asyncio.to_thread(_stats, env=env)
        assert text.returncode == 0, text.stderr
        assert f"ours (prefix '{redis_prefix}'): {len(ours)} keys" in text.stdout
        assert "Redis server" in text.stdout and "(all tenants, not only ours)" in text.stdout
        assert "GET /health" in text.stdout  # where our own hit/miss counters live
    finally:
        await cache.close()
        async for key in client.scan_iter(match=other + "*"):
            await client.unlink(key)
        await client.aclose()
