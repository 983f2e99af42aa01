"""Suite ``api``: the HTTP API on a seeded database, loaded by ``wrk`` (a compiled generator).

On a scratch database filled by the seed generator (``medium``; ``small`` with ``--quick``)
and its search index rebuilt (method and figures: docs/benchmarks.md):

- the framework's ceiling in the same run: one FastAPI route answering pre-serialized bytes
  of the post page's size, on the same uvicorn settings as ``stratabase serve``;
- per endpoint (post page, with comments, home and category feeds, comment tree, profile,
  100 users with stats, search posts and users, trending, popular): req/s, p50 and p99 at
  32 connections (``wrk -t2 -c32``), statements per request and cache hit rate counted in
  the server, and p50/p99 at one client (``wrk -t1 -c1``), against the seeds' bounds;
- a mixed workload (reads and writes, several users) on two worker processes sharing the
  port when the backend has a shared cache (PostgreSQL + Redis), else one;
- SQL statements per page against naive lazy loading, and keyset against OFFSET paging.
"""

from __future__ import annotations

import random
import secrets
import tempfile
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from stratabase.auth import service as auth
from stratabase.bench._api_load import LoadPlan, Targets, measure_http
from stratabase.bench._api_queries import keyset_vs_offset, statements_vs_naive
from stratabase.bench._wrk import wrk_binary
from stratabase.bench.report import BenchContext, Result
from stratabase.db import migrate
from stratabase.db.session import Database
from stratabase.enums import PostStatus, UserStatus
from stratabase.exceptions import ConfigError
from stratabase.models import Category, Comment, Follow, Post, User
from stratabase.search.rebuild import rebuild
from stratabase.seed.orchestrator import seed
from stratabase.seed.sizes import resolve_size
from stratabase.settings import Settings

#: Distinct pages per endpoint: enough that the cache holds many keys, few enough to warm.
SAMPLE = 200
VIEWERS = 8


async def run(ctx: BenchContext) -> list[Result]:
    """Seed a scratch database, serve it, and drive every endpoint with wrk (module doc)."""
    wrk_binary()  # no wrk: one line now, not after seeding
    quick = bool(ctx.options.get("quick"))
    if ctx.backend == "postgres":
        if ctx.settings.backend != "postgres":
            raise ConfigError(
                "--backend postgres: set STRATABASE_DATABASE_URL to a PostgreSQL server "
                "(the suite creates and drops a scratch database on it)"
            )
        name = f"sb_bench_api_{secrets.token_hex(4)}"
        await _pg_admin(ctx.settings.database_url, f"CREATE DATABASE {name}")
        url = make_url(ctx.settings.database_url).set(database=name).render_as_string(False)
        prefix = f"sb-bench-{secrets.token_hex(4)}:"
        try:
            return await _measure(ctx.settings, url, ctx.settings.redis_url, prefix, quick)
        finally:
            await _pg_admin(
                ctx.settings.database_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )
            if ctx.settings.redis_url:
                await _redis_clean(ctx.settings.redis_url, prefix)
    with tempfile.TemporaryDirectory(prefix="sb-bench-api-") as scratch:
        url = f"sqlite:///{Path(scratch) / 'api.db'}"
        return await _measure(ctx.settings, url, "", "sb:", quick)


async def _pg_admin(url: str, statement: str) -> None:
    import asyncpg

    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username,
        password=parsed.password, database=parsed.database,
    )  # fmt: skip
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _redis_clean(url: str, prefix: str) -> None:
    """Drop the run's keys from the shared Redis."""
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await client.unlink(*batch)
                batch.clear()
        if batch:
            await client.unlink(*batch)
    finally:
        await client.aclose()


async def _measure(
    base: Settings, url: str, redis_url: str, prefix: str, quick: bool
) -> list[Result]:
    settings = base.model_copy(update={"database_url": url, "redis_url": ""})
    db = Database(settings)
    try:
        await migrate.upgrade(db)
        size = resolve_size("small" if quick else "medium")
        await seed(db, size=size)
        await rebuild(db)
        targets = await _targets(db)
        results = await statements_vs_naive(settings, db, targets.tokens[0], targets.thread_ids[0])
        results += await keyset_vs_offset(db, quick)
    finally:
        await db.dispose()
    plan = LoadPlan.for_run(quick=quick, database_url=url, redis_url=redis_url, prefix=prefix)
    results = await measure_http(plan, targets) + results
    note = f"seed size {size.name}: {size.users:,} users, {size.posts:,} posts"
    return [
        Result(r.name, r.value, r.unit, r.reference, r.target, r.better,
               f"{r.note}; {note}" if r.note else note)
        for r in results
    ]  # fmt: skip


async def _targets(db: Database) -> Targets:
    """What to request: samples of published posts, busy threads, followers (signed in),
    categories, users, and words that occur in titles and usernames."""
    pick = random.Random(4)
    async with db.session() as session:
        published = list(
            await session.scalars(
                select(Post.id).where(Post.status == PostStatus.PUBLISHED).order_by(Post.id)
            )
        )
        threads = list(
            await session.scalars(
                select(Comment.post_id)
                .join(Post, Post.id == Comment.post_id)
                .where(Post.status == PostStatus.PUBLISHED)
                .group_by(Comment.post_id)
                .order_by(func.count().desc(), Comment.post_id)
                .limit(SAMPLE // 4)
            )
        )
        viewers = list(
            await session.scalars(
                select(Follow.follower_id)
                .join(User, User.id == Follow.follower_id)
                .where(User.status == UserStatus.ACTIVE)  # may sign in and write
                .group_by(Follow.follower_id)
                .order_by(func.count().desc(), Follow.follower_id)
                .limit(VIEWERS)
            )
        )
        categories = list(await session.scalars(select(Category.id).order_by(Category.id)))
        users = list(
            await session.scalars(
                select(User.id).where(User.status == UserStatus.ACTIVE).order_by(User.id)
            )
        )
        names = list(await session.scalars(select(User.name).order_by(User.id).limit(500)))
        titles = list(
            await session.scalars(select(Post.title).where(Post.id.in_(pick.sample(published, 40))))
        )
    tokens = []
    for viewer in viewers:
        issued = await auth.open_session(db, viewer, auth.ClientInfo(device="bench"))
        tokens.append(issued.token)
    words = sorted(
        {
            word.strip(".,:;!?\"'()").lower()
            for title in titles
            for word in title.split()
            if len(word.strip(".,:;!?\"'()")) >= 4 and word.isascii()
        }
    )
    firsts = sorted(
        {
            first.lower()
            for first in (name.split()[0] for name in names if name.split())
            if first.isascii() and first.isalpha()  # a plain word in a URL
        }
    )
    return Targets(
        post_ids=pick.sample(published, min(SAMPLE, len(published))),
        thread_ids=threads or published[:1],
        tokens=tokens,
        category_ids=categories,
        user_ids=pick.sample(users, min(SAMPLE, len(users))),
        batches=[pick.sample(users, min(100, len(users))) for _ in range(5)],
        post_words=pick.sample(words, min(20, len(words))) or ["news"],
        # Whole words of display names (first names repeat: a page of matches each). The
        # index matches words, not prefixes: 3-letter prefixes found nobody, so every
        # request was an empty page, never cached (empty pages are not), and measured
        # the miss path under the name of a hit.
        user_words=pick.sample(firsts, min(20, len(firsts))) or ["user"],
    )
