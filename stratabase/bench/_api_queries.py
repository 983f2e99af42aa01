"""Suite ``api``, the in-process part: SQL statements per page against a naive
lazy-loading version (one query per related row, as an ORM's lazy loading issues them), and
one keyset page at a depth of ~100k rows against OFFSET at the same depth."""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx
from sqlalchemy import func, select, text

from stratabase.api.app import create_app
from stratabase.bench.report import Result
from stratabase.db.session import Database
from stratabase.enums import PostStatus
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
from stratabase.settings import Settings

PAGE = 20
DEPTH = 100_000


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


async def statements_vs_naive(
    settings: Settings, db: Database, token: str, post_id: int
) -> list[Result]:
    """A cold request of each page (in process, signed in) against the naive loading."""
    app = create_app(
        settings, database=db, rate_limits=RateLimits(auth=None, read=None, write=None)
    )
    headers = {"Authorization": f"Bearer {token}"}
    paths = {
        "post page": f"/v1/posts/{post_id}",
        "feed page": f"/v1/feed?limit={PAGE}",
        "comment tree": f"/v1/posts/{post_id}/comments?limit={PAGE}&depth=5",
    }
    transport = httpx.ASGITransport(app=app)
    ours: dict[str, int] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
        for name, path in paths.items():
            with db.monitor.count() as counter:
                response = await client.get(path, headers=headers)
            assert response.status_code == 200, response.text
            ours[name] = _queries(counter.sql)
    naive = {
        "post page": await _naive_posts(db, [post_id]),
        "feed page": await _naive_feed(db),
        "comment tree": await _naive_tree(db, post_id),
    }
    return [
        Result(
            f"{name}: statements, first request vs naive",
            ours[name],
            "statements",
            reference=naive[name],
            target=1.0,
            better="lower",
            note="ours (batch-loaded, cache cold, signed in) vs naive lazy loading "
            "(one query per related row)",
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


async def _naive_feed(db: Database) -> int:
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


async def keyset_vs_offset(db: Database, quick: bool) -> list[Result]:
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
