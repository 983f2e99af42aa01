"""Suite ``api``: the HTTP API on a seeded database, served by one uvicorn process.

On a scratch database filled by the seed generator (``medium``; ``small`` with ``--quick``)
and its search index rebuilt:

- requests/s, p50 and p99 for the post page, a home-feed page, a comment tree and a search,
  each driven over real HTTP by concurrent clients;
- SQL statements per request for the same pages against a naive lazy-loading version (one
  query per related row, as an ORM's lazy loading issues them): ``ratio`` = ours / naive;
- the latency of one keyset page at a depth of ~100k rows against OFFSET at the same depth.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from stratabase.api.app import create_app
from stratabase.auth import service as auth
from stratabase.bench.report import BenchContext, Result
from stratabase.db import migrate
from stratabase.db.session import Database
from stratabase.enums import PostStatus
from stratabase.exceptions import ConfigError
from stratabase.models import (
    Category,
    Comment,
    Follow,
    Like,
    Media,
    Post,
    PostStats,
    Tag,
    User,
)
from stratabase.models import post_tags as post_tags_table
from stratabase.models.cache import BOOKKEEPING_TABLES
from stratabase.pagination import after
from stratabase.ratelimit import RateLimits
from stratabase.search.rebuild import rebuild
from stratabase.seed.orchestrator import seed
from stratabase.seed.sizes import resolve_size
from stratabase.settings import Settings

CONCURRENCY = 16
PAGE = 20
DEPTH = 100_000

#: The server process: our app on the scratch database, rate limits off (it is a load test).
_SERVER = """
import asyncio, sys, uvicorn
from stratabase.api.app import create_app
from stratabase.db.session import Database
from stratabase.ratelimit import RateLimits
from stratabase.settings import load_settings

async def main():
    settings = load_settings(database_url=sys.argv[1], redis_url="", pool_max_size=20)
    db = Database(settings)
    await db.engines.warm()
    no_limits = RateLimits(auth=None, read=None, write=None)
    app = create_app(settings, database=db, rate_limits=no_limits)
    config = uvicorn.Config(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning",
                            access_log=False)
    try:
        await uvicorn.Server(config).serve()
    finally:
        await db.dispose()

asyncio.run(main())
"""


async def run(ctx: BenchContext) -> list[Result]:
    """The suite's figures (see the module docstring), ``small`` seed with ``--quick``."""
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
        try:
            return await _measure(ctx.settings, url, quick)
        finally:
            await _pg_admin(
                ctx.settings.database_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )
    with tempfile.TemporaryDirectory(prefix="sb-bench-api-") as scratch:
        return await _measure(ctx.settings, f"sqlite:///{Path(scratch) / 'api.db'}", quick)


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


async def _measure(base: Settings, url: str, quick: bool) -> list[Result]:
    settings = base.model_copy(update={"database_url": url, "redis_url": ""})
    db = Database(settings)
    try:
        await migrate.upgrade(db)
        size = resolve_size("small" if quick else "medium")
        await seed(db, size=size)
        await rebuild(db)
        targets = await _targets(db)
        results = await _statements(settings, db, targets)
        results += await _keyset_vs_offset(db, quick)
    finally:
        await db.dispose()
    results = await _http_results(url, targets, seconds=3 if quick else 10) + results
    note = f"seed size {size.name}: {size.users} users, {size.posts} posts"
    return [Result(r.name, r.value, r.unit, r.reference, r.target, r.better, r.note or note)
            for r in results]  # fmt: skip


async def _targets(db: Database) -> dict[str, Any]:
    """The pages to request: a busy post, its thread, a follower's feed, a common word."""
    async with db.session() as session:
        top_level = (
            select(Comment.post_id, func.count().label("n"))
            .join(Post, Post.id == Comment.post_id)
            .where(Post.status == PostStatus.PUBLISHED)
            .group_by(Comment.post_id)
            .order_by(func.count().desc())
            .limit(1)
        )
        thread_post = (await session.execute(top_level)).first()
        viewer = (
            await session.execute(
                select(Follow.follower_id)
                .group_by(Follow.follower_id)
                .order_by(func.count().desc())
                .limit(1)
            )
        ).scalar_one()
        title = await session.scalar(
            select(Post.title).where(Post.status == PostStatus.PUBLISHED).limit(1)
        )
    word = max((title or "news").split(), key=len).strip(".,:;!?\"'")
    issued = await auth.open_session(db, viewer, auth.ClientInfo(device="bench"))
    post_id = thread_post[0] if thread_post else 1
    return {
        "token": issued.token,
        "post_id": post_id,
        "comments": int(thread_post[1]) if thread_post else 0,
        "word": word,
        "paths": {
            "post page": f"/v1/posts/{post_id}",
            "feed page": f"/v1/feed?limit={PAGE}",
            "comment tree": f"/v1/posts/{post_id}/comments?limit={PAGE}&depth=5",
            "search": f"/v1/search?q={word}&limit={PAGE}",
        },
    }


# --- HTTP load ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _http_results(url: str, targets: dict[str, Any], *, seconds: int) -> list[Result]:
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(  # noqa: ASYNC220 (a long-lived child, started once)
        [sys.executable, "-c", _SERVER, url, str(port)], env=env
    )
    try:
        return await _load_all(port, targets, seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)


async def _load_all(port: int, targets: dict[str, Any], seconds: int) -> list[Result]:
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {targets['token']}"}
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=300
    ) as client:
        await _wait_ready(client)
        results: list[Result] = []
        for name, path in targets["paths"].items():
            status = (await client.get(path)).status_code
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}")
            rate, p50, p99 = await _load(client, path, seconds)
            note = f"{CONCURRENCY} concurrent clients, {seconds}s, one uvicorn process"
            results += [
                Result(f"{name}: throughput", rate, "req/s", note=note),
                Result(f"{name}: p50", p50, "ms", better="lower", note=note),
                Result(f"{name}: p99", p99, "ms", better="lower", note=note),
            ]
    return results


async def _wait_ready(client: httpx.AsyncClient) -> None:
    for _ in range(300):
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the uvicorn server did not start")


async def _load(client: httpx.AsyncClient, path: str, seconds: float) -> tuple[float, float, float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.get(path)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} answered {response.status_code}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return len(latencies) / elapsed, statistics.median(ordered), p99


# --- statements per request -----------------------------------------------------------


def _queries(sql: list[str]) -> int:
    """Statements that touch data: SQLite's BEGIN and the cache's periodic bookkeeping
    (its generation check and outbox replay, at most every 0.5 s) are left out, as in the
    tests' statement counts."""
    return sum(
        1
        for statement in sql
        if not statement.lstrip().upper().startswith("BEGIN")
        and not any(table in statement for table in BOOKKEEPING_TABLES)
    )


async def _statements(settings: Settings, db: Database, targets: dict[str, Any]) -> list[Result]:
    app = create_app(
        settings, database=db, rate_limits=RateLimits(auth=None, read=None, write=None)
    )
    headers = {"Authorization": f"Bearer {targets['token']}"}
    transport = httpx.ASGITransport(app=app)
    ours: dict[str, int] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
        for name, path in targets["paths"].items():
            if name == "search":
                continue
            with db.monitor.count() as counter:
                response = await client.get(path, headers=headers)
            assert response.status_code == 200, response.text
            ours[name] = _queries(counter.sql)
    naive = {
        "post page": await _naive_posts(db, [targets["post_id"]]),
        "feed page": await _naive_feed(db, targets),
        "comment tree": await _naive_tree(db, targets["post_id"]),
    }
    return [
        Result(
            f"{name}: statements per request",
            ours[name],
            "statements",
            reference=naive[name],
            target=1.0,
            better="lower",
            note="ours (batch-loaded) vs naive lazy loading (one query per related row)",
        )
        for name in naive
    ]


async def _count(db: Database, work: Any) -> int:
    with db.monitor.count() as counter:
        await work()
    return _queries(counter.sql)


async def _naive_posts(db: Database, ids: list[int]) -> int:
    """What lazy loading issues: the session check, then per post each relation apart."""

    async def work() -> None:
        async with db.session() as session:
            await session.execute(select(User).limit(1))  # the token check
            for post_id in ids:
                post = await session.get(Post, post_id)
                assert post is not None
                await session.get(User, post.author_id)
                if post.category_id:
                    await session.get(Category, post.category_id)
                await session.execute(
                    select(Tag).join(post_tags_table).where(post_tags_table.c.post_id == post_id)
                )
                await session.execute(select(Media).where(Media.post_id == post_id))
                await session.get(PostStats, post_id)
                await session.execute(  # the viewer's like, as the batch version reads it
                    select(Like.target_id).where(
                        Like.user_id == 1, Like.target_type == "post", Like.target_id == post_id
                    )
                )

    return await _count(db, work)


async def _naive_feed(db: Database, targets: dict[str, Any]) -> int:
    async with db.session() as session:
        viewer = await session.scalar(
            select(Follow.follower_id).group_by(Follow.follower_id).order_by(func.count().desc())
        )
        followed = select(Follow.followee_id).where(Follow.follower_id == viewer)
        ids = list(
            await session.scalars(
                select(Post.id)
                .where(Post.status == PostStatus.PUBLISHED, Post.author_id.in_(followed))
                .order_by(Post.published_at.desc(), Post.id.desc())
                .limit(PAGE)
            )
        )
    return 1 + await _naive_posts(db, ids)  # + the page query itself


async def _naive_tree(db: Database, post_id: int) -> int:
    """Per comment: its author, then its replies (recursively) — the classic N+1 tree."""

    async def walk(session: Any, comment: Comment, depth: int) -> None:
        await session.get(User, comment.author_id)
        if depth >= 5:
            return
        replies = await session.scalars(select(Comment).where(Comment.parent_id == comment.id))
        for reply in list(replies):
            await walk(session, reply, depth + 1)

    async def work() -> None:
        async with db.session() as session:
            await session.execute(select(User).limit(1))  # the token check
            await session.get(Post, post_id)
            top = await session.scalars(
                select(Comment)
                .where(Comment.post_id == post_id, Comment.parent_id.is_(None))
                .order_by(Comment.created_at, Comment.id)
                .limit(PAGE)
            )
            for comment in list(top):
                await walk(session, comment, 0)

    return await _count(db, work)


# --- keyset vs OFFSET -----------------------------------------------------------------


async def _keyset_vs_offset(db: Database, quick: bool) -> list[Result]:
    async with db.session() as session:
        published = int(
            await session.scalar(select(func.count()).where(Post.status == PostStatus.PUBLISHED))
            or 0
        )
        depth = max(0, min(DEPTH, published - PAGE))
        order = "ORDER BY published_at DESC, id DESC"
        where = "WHERE status = 'published'"
        # Setup only: find the row just above the depth (the cursor a walk would carry).
        boundary_at, boundary_id = (
            await session.execute(
                select(Post.published_at, Post.id)
                .where(Post.status == PostStatus.PUBLISHED)
                .order_by(Post.published_at.desc(), Post.id.desc())
                .offset(max(0, depth - 1))
                .limit(1)
            )
        ).one()
        columns = (Post.published_at, Post.id)
        keyset = (  # exactly what the API's list endpoints run for a cursor
            select(Post.id)
            .where(
                Post.status == PostStatus.PUBLISHED,
                after(columns, [boundary_at, boundary_id], descending=True),
            )
            .order_by(Post.published_at.desc(), Post.id.desc())
            .limit(PAGE)
        )
        offset = text(f"SELECT id FROM posts {where} {order} LIMIT {PAGE} OFFSET {depth}")
        same = list(await session.scalars(keyset)) == list(await session.scalars(offset))
        if not same:
            raise RuntimeError("keyset and OFFSET pages differ: the benchmark would be unfair")
        rounds = 5 if quick else 20
        keyset_ms = await _median_ms(session, keyset, rounds)
        offset_ms = await _median_ms(session, offset, rounds)
    note = f"one page of {PAGE} at depth {depth:,} of {published:,} published posts, median"
    return [
        Result(
            f"keyset page at depth {depth // 1000}k",
            keyset_ms,
            "ms",
            reference=offset_ms,
            target=1.0,
            better="lower",
            note=note + " (reference: OFFSET)",
        )
    ]


async def _median_ms(session: Any, statement: Any, rounds: int) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        list(await session.scalars(statement))
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)
