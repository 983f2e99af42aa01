"""Feeds: the caller's home feed and category feeds."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from stratabase.api.deps import (
    CacheDep,
    CurrentUserDep,
    CursorsDep,
    DatabaseDep,
    OptionalUserDep,
)
from stratabase.api.routes._params import DEFAULT, Cursor, Fields, Limit, ObjectId
from stratabase.api.routes._router import public_router
from stratabase.api.schemas.common import PageOut
from stratabase.api.schemas.fields import page_response
from stratabase.api.schemas.posts import PostOut
from stratabase.feeds import service

router = public_router("/v1/feed", "feeds")


@router.get("", response_model=PageOut[PostOut])
async def home_feed(
    principal: CurrentUserDep,
    db: DatabaseDep,
    cache: CacheDep,
    codec: CursorsDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
    fields: Fields = None,
) -> dict[str, Any] | JSONResponse:
    """Published posts of the authors you follow, newest first (muted/blocked excluded)."""
    page = await service.home(db, cache, principal, codec=codec, cursor=cursor, limit=limit)
    return page_response(page, PostOut, fields)


@router.get("/categories/{category_id}", response_model=PageOut[PostOut])
async def category_feed(
    category_id: ObjectId,
    viewer: OptionalUserDep,
    db: DatabaseDep,
    cache: CacheDep,
    codec: CursorsDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
    fields: Fields = None,
) -> dict[str, Any] | JSONResponse:
    """Published posts of a category, newest first."""
    page = await service.category(
        db, cache, viewer, category_id, codec=codec, cursor=cursor, limit=limit
    )
    return page_response(page, PostOut, fields)
