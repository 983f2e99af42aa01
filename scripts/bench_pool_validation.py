"""Cost of validating pooled connections: none, the checkout is_closed() check, pool_pre_ping.

Run: STRATABASE_LOG_LEVEL=ERROR .venv/bin/python scripts/bench_pool_validation.py
(PostgreSQL on 127.0.0.1:5432, user postgres; creates and drops database sb_pool_bench).
Prints the median time of a one-statement read transaction per variant.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db import engine as engine_module
from stratabase.db.session import Database
from stratabase.settings import load_settings

URL = "postgresql://postgres@127.0.0.1/sb_pool_bench"
VARIANTS = ("none", "checkout_check", "pre_ping")


async def _read(session: AsyncSession) -> Any:
    return (await session.execute(text("SELECT 1"))).scalar()


async def bench(variant: str, count: int, concurrency: int) -> float:
    """Microseconds per transaction."""
    original = engine_module.create_async_engine

    def patched(*args: Any, **kwargs: Any) -> Any:
        kwargs["pool_pre_ping"] = variant == "pre_ping"
        return original(*args, **kwargs)

    engine_module.create_async_engine = patched  # type: ignore[assignment]
    try:
        db = Database(load_settings(database_url=URL, pool_max_size=10))
    finally:
        engine_module.create_async_engine = original
    if variant != "checkout_check":
        for listener in list(db.engine.sync_engine.pool.dispatch.checkout):
            event.remove(db.engine.sync_engine, "checkout", listener)
    for _ in range(200):
        await db.transaction(_read, write=False)

    async def client(n: int) -> None:
        for _ in range(n):
            await db.transaction(_read, write=False)

    started = time.perf_counter()
    await asyncio.gather(*(client(count // concurrency) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await db.dispose()
    return elapsed / count * 1e6


async def main() -> None:
    admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="test")
    await admin.execute("DROP DATABASE IF EXISTS sb_pool_bench WITH (FORCE)")
    await admin.execute("CREATE DATABASE sb_pool_bench")
    try:
        for concurrency in (1, 10):
            runs: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
            for _ in range(5):
                for variant in VARIANTS:
                    runs[variant].append(await bench(variant, 2000, concurrency))
            medians = ", ".join(f"{v} {statistics.median(x):.0f} us" for v, x in runs.items())
            print(f"concurrency {concurrency}: {medians}")
    finally:
        await admin.execute("DROP DATABASE IF EXISTS sb_pool_bench WITH (FORCE)")
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
