"""How long requests take while Redis hangs (docs/cache.md, "When Redis is in trouble").

    .venv/bin/python scripts/measure_redis_hang.py sqlite:////tmp/hang.db
    .venv/bin/python scripts/measure_redis_hang.py postgresql://postgres@127.0.0.1/scratch

Starts a private redis-server (never the shared one), serves an app with the two-tier
cache and the rate limiter on it (in process, through httpx), warms a post page, a profile
and the categories, then pauses Redis (SIGSTOP: connections accepted, nothing answered) and
for ``SECONDS`` repeats reads, writes, a read after each write and ``/health``. Prints the
slowest request, the slowest ``/health``, the count of 5xx and of stale reads.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections import defaultdict

import httpx

from stratabase.api.app import create_app
from stratabase.cache import build_cache
from stratabase.db import migrate
from stratabase.db.session import Database
from stratabase.settings import load_settings
from tests.acceptance.api_support import Api
from tests.faults_support import RedisServer

SECONDS = 20.0


async def main(url: str) -> None:
    server = RedisServer()
    server.start()
    settings = load_settings(database_url=url, redis_url=server.url, redis_prefix="sb-hang:")
    db = Database(settings)
    await migrate.upgrade(db)
    cache = build_cache(settings)
    cache.bind(db)
    app = create_app(settings, database=db, cache=cache)
    transport = httpx.ASGITransport(app=app)
    timings: dict[str, list[float]] = defaultdict(list)
    errors = stale = 0
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            api = Api(http, db)
            author = await api.user()
            post = await api.post(author, title="v0")
            page, profile = f"/v1/posts/{post['id']}", f"/v1/users/{author.id}"
            for path in (page, profile, "/v1/categories", "/health"):
                assert (await http.get(path)).status_code == 200

            async def timed(kind: str, method: str, path: str, **kw: object) -> httpx.Response:
                nonlocal errors
                started = time.perf_counter()
                response = await http.request(method, path, **kw)  # type: ignore[arg-type]
                timings[kind].append(time.perf_counter() - started)
                errors += response.status_code >= 500
                return response

            server.pause()
            deadline = time.monotonic() + SECONDS
            version = 0
            while time.monotonic() < deadline:
                await timed("read", "GET", page)
                await timed("read", "GET", profile)
                await timed("read", "GET", "/v1/categories")
                version += 1
                await timed(
                    "write", "PATCH", page, json={"title": f"v{version}"}, headers=author.headers
                )
                after = await timed("read", "GET", page)
                stale += after.json().get("title") != f"v{version}"
                await timed("health", "GET", "/health")
            report = (await http.get("/health")).json()
    finally:
        server.stop()
        await cache.close()
        await db.dispose()
    for kind, samples in sorted(timings.items()):
        print(
            f"{kind:6} n={len(samples):4}  median {statistics.median(samples) * 1000:7.1f} ms"
            f"  max {max(samples) * 1000:7.1f} ms"
            f"  over 100 ms: {sum(sample > 0.1 for sample in samples)}"
        )
    print(f"5xx: {errors}  stale reads after a write: {stale}")
    print(f"health at the end: {report['status']} {report['checks']}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
