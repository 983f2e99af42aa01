"""What the cache's database link costs (docs/cache.md, "Changes made outside the serving
process" and "No invalidation lost to a process death").

    .venv/bin/python scripts/measure_cache_sync.py sqlite:////tmp/measure.db
    .venv/bin/python scripts/measure_cache_sync.py postgresql://postgres@127.0.0.1/scratch

Prints: a local cache hit without and with ``cache.bind(db)`` (best of 5 x 200,000), one
generation check (median and p95 of 300), and a one-row write transaction without and
with an outbox row (median of 6 rounds of 150). The database is migrated first.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.cache import SmartCache, memory_cache
from stratabase.cache.durable import read_generation
from stratabase.db import migrate
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.models import CacheInvalidation, SystemState
from stratabase.settings import load_settings

HITS = 200_000


async def _hit_us(cache: SmartCache) -> float:
    await cache.get_or_load("post:1", lambda: {"t": "x" * 200}, tags=["post:1"])
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(HITS):
            await cache.get_or_load("post:1", lambda: None, tags=["post:1"])
        best = min(best, (time.perf_counter() - started) / HITS * 1e6)
    return best


async def _timed_us(action: Callable[[], Awaitable[Any]], times: int) -> list[float]:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - started) * 1e6)
    return sorted(samples)


async def main(url: str) -> None:
    db = Database(load_settings(database_url=url, redis_url=""))
    await migrate.upgrade(db)
    plain, bound = memory_cache(), memory_cache()
    bound.bind(db)
    unbound_us, bound_us = await _hit_us(plain), await _hit_us(bound)
    print(f"local hit: {unbound_us:.2f} us unbound, {bound_us:.2f} us bound")

    async def check() -> None:
        async with db.session() as session:
            await read_generation(session)

    checks = await _timed_us(check, 300)
    print(f"generation check: median {statistics.median(checks):.0f} us, p95 {checks[284]:.0f} us")

    async def reset(session: AsyncSession) -> None:
        await session.execute(delete(SystemState).where(SystemState.key == "measure"))
        session.add(SystemState(key="measure", value={"n": 0}))

    await db.transaction(reset)

    async def write(session: AsyncSession) -> None:
        statement = update(SystemState).where(SystemState.key == "measure")
        await session.execute(statement.values(value={"n": 1}))

    async def write_with_outbox(session: AsyncSession) -> None:
        await write(session)
        session.add(
            CacheInvalidation(
                id=secrets.token_hex(16), tags=["post:1", "user:2"], keys=[], created_at=utcnow()
            )
        )

    medians: dict[str, list[float]] = {"plain": [], "outbox": []}
    for _ in range(6):
        for label, work in (("plain", write), ("outbox", write_with_outbox)):
            samples = await _timed_us(lambda work=work: db.transaction(work), 150)  # type: ignore[misc]
            medians[label].append(statistics.median(samples))
    for label, values in medians.items():
        rounds = ", ".join(f"{v:.0f}" for v in values)
        print(f"write transaction, {label}: median {statistics.median(values):.0f} us ({rounds})")
    await db.transaction(lambda s: s.execute(delete(CacheInvalidation)))
    await plain.close()
    await bound.close()
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
