"""Rebuild the whole search index from the posts and users (after a bulk load or seed).

Writes go through :mod:`stratabase.search.index` as bulk inserts, one transaction per
chunk, so a large rebuild neither holds one giant transaction nor blocks writers for long.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.session import Database
from stratabase.enums import PostStatus, UserStatus
from stratabase.models import Post, SearchDocument, User
from stratabase.search import index

CHUNK = 2_000


async def rebuild(db: Database) -> dict[str, int]:
    """Index every published post and live user; returns how many of each."""

    async def clear(session: AsyncSession) -> None:
        await session.execute(delete(SearchDocument))

    await db.transaction(clear)
    counts = {"posts": 0, "users": 0}
    for kind, model, condition in (
        ("posts", Post, Post.status == PostStatus.PUBLISHED),
        ("users", User, User.status != UserStatus.DELETED),
    ):
        last_id = 0
        while True:

            async def chunk(
                session: AsyncSession,
                after: int = last_id,
                kind: str = kind,
                model: Any = model,
                condition: Any = condition,
            ) -> list[int]:
                rows = list(
                    await session.scalars(
                        select(model)
                        .where(condition, model.id > after)
                        .order_by(model.id)
                        .limit(CHUNK)
                    )
                )
                make = index.post_document if kind == "posts" else index.user_document
                await index.insert_many(session, [make(row) for row in rows])
                return [row.id for row in rows]

            ids = await db.transaction(chunk)
            counts[kind] += len(ids)
            if len(ids) < CHUNK:
                break
            last_id = ids[-1]
    return counts
