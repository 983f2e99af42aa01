"""Warm the keys the first visitors will ask for: call at ``up`` and after ``clean``.

``await warm_hot_keys(db, cache)`` loads the first page of categories (as ``GET
/v1/categories`` asks for it) and the bodies of the newest published post pages, through
the same loaders and keys the API reads, so a warmed key is exactly what a request would
have cached. It never raises: a key that fails to warm is only slower (see
:func:`stratabase.cache.warming.warm`).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from stratabase.cache import Cache
from stratabase.content import reads
from stratabase.db.session import Database
from stratabase.enums import PostStatus
from stratabase.models import Post
from stratabase.pagination import DEFAULT_LIMIT, CursorCodec

logger = logging.getLogger("stratabase.cache")

#: How many of the newest published post pages to warm.
HOT_POSTS = 50


async def warm_hot_keys(db: Database, cache: Cache, *, posts: int = HOT_POSTS) -> int:
    """Load the category list and the newest ``posts`` post pages; returns keys warmed."""
    warmed = 0
    try:
        async with db.session() as session:
            ids = list(
                await session.scalars(
                    select(Post.id)
                    .where(Post.status == PostStatus.PUBLISHED)
                    .order_by(Post.published_at.desc(), Post.id.desc())
                    .limit(posts)
                )
            )
    except Exception:
        logger.warning("warming: could not list the newest posts", exc_info=True)
        return 0
    # The cursor codec only signs cursors for pages after the first: any key does here.
    jobs: list[Any] = [
        reads.list_categories(
            db, cache, theme=None, codec=CursorCodec("warming"), cursor=None, limit=DEFAULT_LIMIT
        )
    ]
    jobs += [reads.post_body(db, cache, post_id) for post_id in ids]
    for job in jobs:
        try:
            await job
        except Exception:
            logger.warning("warming a hot key failed", exc_info=True)
        else:
            warmed += 1
    return warmed
