"""Categories and tags."""

from __future__ import annotations

from fastapi import Query
from fastapi.responses import Response

from stratabase.api.deps import CacheDep, CursorsDep, DatabaseDep
from stratabase.api.routes._params import DEFAULT, Cursor, Fields, Limit
from stratabase.api.routes._router import public_router
from stratabase.api.schemas.common import PageOut
from stratabase.api.schemas.fields import page_response
from stratabase.content import reads
from stratabase.schemas.content import CategoryRead, TagRead

router = public_router("/v1", "categories")


@router.get("/categories", response_model=PageOut[CategoryRead])
async def list_categories(
    db: DatabaseDep,
    cache: CacheDep,
    codec: CursorsDep,
    theme: str | None = Query(default=None, max_length=40),
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
    fields: Fields = None,
) -> Response:
    """Categories, optionally of one theme."""
    page = await reads.list_categories(
        db, cache, theme=theme, codec=codec, cursor=cursor, limit=limit
    )
    return page_response(page, CategoryRead, fields)


@router.get("/tags", response_model=PageOut[TagRead])
async def list_tags(
    db: DatabaseDep,
    codec: CursorsDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
    fields: Fields = None,
) -> Response:
    """Tags in creation order."""
    page = await reads.list_tags(db, codec=codec, cursor=cursor, limit=limit)
    return page_response(page, TagRead, fields)
