"""Feeds: the caller's home feed and category feeds."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from stratabase.api.deps import (
    CacheDep,
    CurrentUserDep,
    CursorsDep,
    DatabaseDep,
    OptionalUserDep,
)
from stratabase.api.routes._lists import post_fields, post_page, public_post_page
from stratabase.api.routes._params import DEFAULT, Cursor, Fields, Limit, ObjectId
from stratabase.api.routes._router import public_router
from stratabase.api.schemas.common import PageOut
from stratabase.api.schemas.posts import PostOut
from stratabase.feeds import service
from stratabase.feeds.pages import PostJson, TaggedPage

router = public_router("/v1/feed", "feeds")


@router.get("", response_model=PageOut[PostOut])
async def home_feed(
    request: Request,
    principal: CurrentUserDep,
    db: DatabaseDep,
    cache: CacheDep,
    codec: CursorsDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
    fields: Fields = None,
) -> Response:
    """Published posts of the authors you follow, newest first (muted/blocked excluded).
    Never stale: your own follows, mutes and blocks, and every post write of the authors
    you follow, show on your next read."""
    wanted, shape = post_fields(fields)
    page = await service.home(
        db, cache, principal, codec=codec, cursor=cursor, limit=limit, shape=shape
    )
    return post_page(request, page, wanted, public=False)


@router.get("/categories/{category_id}", response_model=PageOut[PostOut])
async def category_feed(
    request: Request,
    category_id: ObjectId,
    viewer: OptionalUserDep,
    db: DatabaseDep,
    cache: CacheDep,
    codec: CursorsDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
    fields: Fields = None,
) -> Response:
    """Published posts of a category, newest first (never stale)."""
    wanted, shape = post_fields(fields)

    async def load(exact: bool) -> TaggedPage[PostJson]:
        return await service.category(
            db, cache, viewer, category_id, codec=codec, cursor=cursor, limit=limit,
            shape=shape, exact_counters=exact,
        )  # fmt: skip

    if viewer is None:
        return await public_post_page(request, cache, load, wanted)
    return post_page(request, await load(False), wanted, public=False)
