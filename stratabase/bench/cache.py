"""Suite ``cache``: our cache against raw redis-py and the best Python cache libraries.

In one run against the same Redis, with 1 task and 50 concurrent tasks, reading one 1 KB
JSON value:

- raw ``redis-py`` GET + ``orjson.loads`` on a default client (the limit our Redis tier is
  measured against);
- our Redis tier, our two-tier local hit, our embedded (memory) cache;
- cashews (Redis and memory backends) and aiocache (Redis and memory), from the ``bench``
  extra, each on a pool of the same size.

Plus: invalidating a tag that 1000 keys carry (target ≤ 0.2 ms, two-tier), 1000
concurrent misses on one key (target: exactly one loader call), and ``GET /v1/posts/{id}``
through the API (in-process ASGI, one task, a scratch database of 200 posts) on a cache hit
against a miss (the key deleted, untimed, before each miss), two-tier and embedded.
Throughputs are the best of three interleaved rounds, so a neighbour's burst on this shared
machine hurts every contender alike.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.api.app import create_app
from stratabase.bench.report import BenchContext, Result
from stratabase.cache import SmartCache, build_cache, memory_cache, redis_cache, two_tier_cache
from stratabase.cache.keys import POST
from stratabase.cache.pool import FairConnectionPool
from stratabase.cache.two_tier import TwoTierStore
from stratabase.db import migrate
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import MediaType, PostKind, PostStatus
from stratabase.exceptions import ConfigError
from stratabase.models import Category, Media, Post, PostStats, User
from stratabase.ratelimit import RateLimits
from stratabase.settings import Settings

CONCURRENCY = 50
Op = Callable[[], Awaitable[Any]]


def sample_value() -> dict[str, Any]:
    """A post-like JSON document of about 1 KB."""
    value = {
        "id": 4242,
        "title": "How we made the cache boring",
        "author": {"id": 7, "handle": "ada", "display_name": "Ada L."},
        "tags": ["cache", "redis", "python", "performance"],
        "stats": {"views": 123456, "likes": 789, "comments": 42},
        "published_at": "2026-11-23T12:00:00+00:00",
        "excerpt": "",
    }
    size = len(orjson.dumps(value))
    value["excerpt"] = "x" * (1024 - size)
    return value


async def throughput(op: Op, total: int, tasks: int) -> float:
    """Calls per second of ``op``, ``total`` calls shared by ``tasks`` concurrent tasks."""
    per_task = max(1, total // tasks)

    async def worker() -> None:
        for _ in range(per_task):
            await op()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return per_task * tasks / (time.perf_counter() - started)


async def best_of(ops: dict[str, Op], total: int, tasks: int, rounds: int) -> dict[str, float]:
    """Interleave contenders round by round; keep each one's best round."""
    best: dict[str, float] = dict.fromkeys(ops, 0.0)
    for op in ops.values():  # warm connections and code paths
        await throughput(op, min(total, 200), tasks)
    for _ in range(rounds):
        for name, op in ops.items():
            best[name] = max(best[name], await throughput(op, total, tasks))
    return best


async def _peer_libraries(url: str, key: str, value: Any) -> dict[str, Any]:
    """cashews and aiocache, configured as their docs say, with a 50-connection pool."""
    from aiocache import RedisCache, SimpleMemoryCache  # type: ignore[import-untyped]
    from aiocache.serializers import JsonSerializer  # type: ignore[import-untyped]
    from cashews import Cache as Cashews
    from redis.asyncio.connection import parse_url

    cashews_redis = Cashews()
    cashews_redis.setup(url, client_side=False, max_connections=CONCURRENCY)
    cashews_memory = Cashews()
    cashews_memory.setup("mem://", size=10_000)
    where = parse_url(url)
    aiocache_redis = RedisCache(
        serializer=JsonSerializer(),
        endpoint=where.get("host", "127.0.0.1"),
        port=where.get("port", 6379),
        db=where.get("db", 0),
        pool_max_size=CONCURRENCY,
    )
    aiocache_memory = SimpleMemoryCache(serializer=JsonSerializer())
    for cache in (cashews_redis, cashews_memory):
        await cache.set(key, value, expire=600)
    for other in (aiocache_redis, aiocache_memory):
        await other.set(key, value, ttl=600)
    return {
        "cashews_redis": cashews_redis,
        "cashews_memory": cashews_memory,
        "aiocache_redis": aiocache_redis,
        "aiocache_memory": aiocache_memory,
    }


async def _settle(cache: SmartCache) -> None:
    """Wait until the two-tier cache's subscriber has read every pending message."""
    store = cache.store
    assert isinstance(store, TwoTierStore)
    seen = -1
    while store.messages != seen:
        seen = store.messages
        await asyncio.sleep(0.05)


async def _tag_invalidation(cache: SmartCache, keys: int) -> tuple[float, float, bool]:
    """Median and best ms to invalidate a tag carried by ``keys`` entries; True if all then miss.

    Each round stores ``keys`` entries that all carry the same 10 tags, then invalidates
    those tags one by one (10 samples of "a tag that ``keys`` entries carry"; the cost does
    not depend on how many of them are still valid, which is the point of versioned tags).
    """
    timings = []
    all_missed = True
    for round_ in range(3):
        tags = [f"category:bench-{round_}-{t}" for t in range(10)]
        names = [f"post:tagged-{round_}-{i}" for i in range(keys)]
        await asyncio.gather(
            *(cache.set(name, {"i": i}, tags=tags) for i, name in enumerate(names))
        )
        for name in names[:50]:
            await cache.get(name)  # some local copies too
        await _settle(cache)  # the writes' own invalidation messages are not part of this
        for tag in tags:
            started = time.perf_counter()
            await cache.invalidate_tags([tag])
            timings.append((time.perf_counter() - started) * 1000)
            if tag == tags[0]:
                all_missed = all_missed and not await cache.get_many(names)
    return statistics.median(timings), min(timings), all_missed


async def _round_trip_ms(client: Redis, key: str) -> float:
    """Median latency of one raw GET right now: the floor under any Redis operation."""
    timings = []
    for _ in range(200):
        started = time.perf_counter()
        await client.get(key)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


async def _single_flight(cache: SmartCache, misses: int) -> int:
    calls = 0

    async def loader() -> dict[str, int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.02)
        return {"calls": calls}

    key = f"post:stampede-{secrets.token_hex(4)}"
    await asyncio.gather(*(cache.get_or_load(key, loader) for _ in range(misses)))
    return calls


async def run(ctx: BenchContext) -> list[Result]:
    """The suite's figures (see the module docstring); needs Redis."""
    url = ctx.settings.redis_url
    if not url:
        raise ConfigError("the cache suite needs Redis: set STRATABASE_REDIS_URL")
    quick = bool(ctx.options.get("quick"))
    one_total, many_total, rounds = (300, 2000, 2) if quick else (600, 4000, 15)
    prefix = f"sb-bench:{secrets.token_hex(4)}:"
    key = "post:4242"
    value = sample_value()

    raw_client = Redis.from_url(url)  # redis-py as documented: default pool, hiredis
    fair_client = Redis(
        connection_pool=FairConnectionPool.from_url(url, max_connections=CONCURRENCY)
    )
    ours_redis = redis_cache(url, prefix, max_connections=CONCURRENCY)
    ours_two = two_tier_cache(url, prefix, max_connections=CONCURRENCY)
    ours_memory = memory_cache()
    assert isinstance(ours_two.store, TwoTierStore)
    await ours_two.store.wait_subscribed()
    peer_key = prefix + "peer:" + key
    peers = await _peer_libraries(url, peer_key, value)
    try:
        await ours_redis.set(key, value)
        await ours_memory.set(key, value)
        raw_key = ours_redis.store.keys.data(key)  # type: ignore[attr-defined]
        await raw_client.set(prefix + "raw", orjson.dumps(value))
        assert await ours_two.get(key) == value  # fills the local tier

        async def raw_get() -> Any:
            return orjson.loads(await raw_client.get(prefix + "raw") or b"null")

        async def fair_get() -> Any:
            return orjson.loads(await fair_client.get(prefix + "raw") or b"null")

        await ours_redis.set("post:tagged", value, tags=["post:tagged", "user:7"])
        tagged = ["post:tagged", "user:7"]
        redis_ops: dict[str, Op] = {
            "raw": raw_get,
            "raw_fair": fair_get,
            "ours": lambda: ours_redis.get(key),
            "ours_tagged": lambda: ours_redis.get_or_load("post:tagged", sample_value, tags=tagged),
            "cashews": lambda: peers["cashews_redis"].get(peer_key),
            "aiocache": lambda: peers["aiocache_redis"].get(peer_key),
        }
        local_ops: dict[str, Op] = {
            "cashews": lambda: peers["cashews_memory"].get(peer_key),
            "ours_two_tier": lambda: ours_two.get(key),
            "ours_memory": lambda: ours_memory.get(key),
            "aiocache": lambda: peers["aiocache_memory"].get(peer_key),
        }
        assert await raw_client.exists(raw_key)
        results: list[Result] = []
        for tasks, total in ((1, one_total), (CONCURRENCY, many_total)):
            best = await best_of(redis_ops, total, tasks, rounds)
            raw = best["raw"]
            label = f"{tasks} task{'s' if tasks > 1 else ''}"
            results.append(Result(f"redis GET+orjson, {label}: raw redis-py", raw, "ops/s"))
            results.append(
                Result(
                    f"redis GET+orjson, {label}: raw on our pool",
                    best["raw_fair"],
                    "ops/s",
                    raw,
                    note="the same raw GET on FairConnectionPool: what our layer costs on top",
                )
            )
            results.append(
                Result(
                    f"redis hit, {label}: ours vs raw on our pool",
                    best["ours"],
                    "ops/s",
                    best["raw_fair"],
                    note="overhead of envelope, breaker and metrics alone",
                )
            )
            results.append(
                Result(f"redis hit, {label}: ours (Redis tier)", best["ours"], "ops/s", raw, 0.90)
            )
            results.append(
                Result(
                    f"redis hit, {label}: ours, 2 tags checked",
                    best["ours_tagged"],
                    "ops/s",
                    raw,
                    note="GET + tag versions in one pipelined round trip",
                )
            )
            for peer in ("cashews", "aiocache"):
                results.append(Result(f"redis hit, {label}: {peer}", best[peer], "ops/s", raw))
        for tasks, total in ((1, one_total * 25), (CONCURRENCY, one_total * 50)):
            best = await best_of(local_ops, total, tasks, rounds)
            reference = best["cashews"]
            label = f"{tasks} task{'s' if tasks > 1 else ''}"
            results.append(Result(f"local hit, {label}: cashews mem://", reference, "ops/s"))
            results.append(
                Result(
                    f"local hit, {label}: ours two-tier",
                    best["ours_two_tier"],
                    "ops/s",
                    reference,
                    1.0,
                )
            )
            results.append(
                Result(
                    f"local hit, {label}: ours embedded",
                    best["ours_memory"],
                    "ops/s",
                    reference,
                    1.0,
                )
            )
            results.append(
                Result(f"local hit, {label}: aiocache memory", best["aiocache"], "ops/s", reference)
            )
        tagged_keys = 100 if quick else 1000
        median_ms, best_ms, all_missed = await _tag_invalidation(ours_two, tagged_keys)
        round_trip_ms = await _round_trip_ms(raw_client, prefix + "raw")
        results.append(
            Result(
                f"tag invalidation, {tagged_keys}-key tag (two-tier)",
                median_ms,
                "ms",
                0.2,
                1.0,
                better="lower",
                note=f"median of 30; best {best_ms:.3f} ms; the 0.2 ms budget is the reference; "
                + f"one raw GET took {round_trip_ms:.3f} ms (median) in this run; "
                + ("every key then missed" if all_missed else "SOME KEYS STILL HIT"),
            )
        )
        results += await post_page_hit_vs_miss(ctx, prefix + "api:", 100 if quick else 600)
        for name, cache in (("two-tier", ours_two), ("embedded", ours_memory)):
            calls = await _single_flight(cache, 1000)
            results.append(
                Result(
                    f"1000 concurrent misses → loader calls ({name})",
                    calls,
                    "calls",
                    1,
                    1.0,
                    better="lower",
                )
            )
        return results
    finally:
        await ours_redis.clear(None)
        async for stale in raw_client.scan_iter(match=prefix + "*", count=1000):
            await raw_client.unlink(stale)
        await peers["cashews_redis"].close()
        await peers["aiocache_redis"].close()
        for cache in (ours_redis, ours_two, ours_memory):
            await cache.close()
        await raw_client.aclose()
        await fair_client.aclose()


# -- GET post page through the API: hit vs miss ------------------------------------------


async def post_page_hit_vs_miss(ctx: BenchContext, prefix: str, requests: int) -> list[Result]:
    """Post-page requests/s through ``create_app`` on a scratch database, hit vs miss."""
    from stratabase.bench.api import _pg_admin

    if ctx.backend == "postgres" and ctx.settings.backend == "postgres":
        name = f"sb_bench_cache_{secrets.token_hex(4)}"
        await _pg_admin(ctx.settings.database_url, f"CREATE DATABASE {name}")
        url = make_url(ctx.settings.database_url).set(database=name).render_as_string(False)
        try:
            return await _api_pages(ctx.settings, url, prefix, requests)
        finally:
            await _pg_admin(
                ctx.settings.database_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )
    with tempfile.TemporaryDirectory(prefix="sb-bench-cache-") as scratch:
        url = f"sqlite:///{Path(scratch) / 'cache.db'}"
        return await _api_pages(ctx.settings, url, prefix, requests)


async def _insert_posts(db: Database, count: int) -> list[int]:
    async def work(session: AsyncSession) -> list[int]:
        category = Category(theme="bench", name="Bench", slug="bench")
        authors = [
            User(email=f"a{i}@bench.test", username=f"bench_{i}", name=f"Author {i}")
            for i in range(10)
        ]
        session.add_all([category, *authors])
        await session.flush()
        posts = [
            Post(
                author_id=authors[i % 10].id,
                category_id=category.id,
                kind=PostKind.ARTICLE,
                title=f"Post {i}",
                slug=f"post-{i}",
                summary="A post of the cache benchmark.",
                content_blocks=[{"type": "paragraph", "text": "lorem ipsum " * 40}],
                status=PostStatus.PUBLISHED,
                published_at=utcnow(),
            )
            for i in range(count)
        ]
        session.add_all(posts)
        await session.flush()
        session.add_all(PostStats(post_id=p.id, views=7, likes=3) for p in posts)
        session.add_all(
            Media(post_id=p.id, type=MediaType.IMAGE, url=f"https://img.test/{p.id}/{n}.png",
                  position=n)
            for p in posts for n in range(2)
        )  # fmt: skip
        return [p.id for p in posts]

    return await db.transaction(work)


async def _api_pages(base: Settings, url: str, prefix: str, requests: int) -> list[Result]:
    settings = base.model_copy(update={"database_url": url, "redis_prefix": prefix})
    db = Database(settings)
    results: list[Result] = []
    try:
        await migrate.upgrade(db)
        ids = await _insert_posts(db, 200)
        for label, cache in (("two-tier", build_cache(settings)), ("embedded", memory_cache())):
            try:
                if isinstance(cache.store, TwoTierStore):
                    await cache.store.wait_subscribed()
                hit, miss = await _time_pages(settings, db, cache, ids, requests)
            finally:
                await cache.clear(None)
                await cache.close()
            results.append(Result(f"API GET post page, miss ({label})", miss, "req/s"))
            results.append(
                Result(
                    f"API GET post page, hit ({label})",
                    hit,
                    "req/s",
                    miss,
                    note="in-process ASGI, 1 task; hit = cached body + fresh stats row; "
                    + f"ratio = hit / miss; database {db.backend}",
                )
            )
    finally:
        await db.dispose()
    return results


async def _time_pages(
    settings: Settings, db: Database, cache: SmartCache, ids: list[int], requests: int
) -> tuple[float, float]:
    """(hit req/s, miss req/s): best of three interleaved rounds, only requests timed."""
    app = create_app(
        settings, database=db, cache=cache, rate_limits=RateLimits(auth=None, read=None, write=None)
    )
    transport = httpx.ASGITransport(app=app)
    best = {"hit": 0.0, "miss": 0.0}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

        async def one(post_id: int) -> float:
            started = time.perf_counter()
            response = await http.get(f"/v1/posts/{post_id}")
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, response.text
            return elapsed

        for post_id in ids:  # warm connections and code paths
            await one(post_id)
        for _ in range(3):
            for mode in ("miss", "hit"):
                spent = 0.0
                for n in range(requests):
                    post_id = ids[n % len(ids)]
                    if mode == "miss":
                        await cache.delete(POST.key(post_id))
                    spent += await one(post_id)
                best[mode] = max(best[mode], requests / spent)
    return best["hit"], best["miss"]
