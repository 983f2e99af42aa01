"""Full-text search over posts and users."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query

from stratabase.api.deps import (
    CacheDep,
    CursorsDep,
    DatabaseDep,
    InputGuard,
    OptionalUserDep,
    RateLimited,
)
from stratabase.api.routes._params import DEFAULT, Cursor, Limit
from stratabase.api.schemas.common import PROBLEM_RESPONSES, PageOut
from stratabase.api.schemas.posts import SearchHitOut
from stratabase.search import service
from stratabase.search.text import MAX_QUERY_LENGTH

router = APIRouter(
    prefix="/v1",
    tags=["search"],
    responses=PROBLEM_RESPONSES,
    dependencies=[InputGuard, RateLimited],
)


@router.get("/search", response_model=PageOut[SearchHitOut])
async def search(
    viewer: OptionalUserDep,
    db: DatabaseDep,
    cache: CacheDep,
    codec: CursorsDep,
    q: str = Query(
        max_length=MAX_QUERY_LENGTH,
        description='websearch syntax: words, "exact phrase", -excluded, a OR b',
    ),
    search_type: Literal["posts", "users"] = Query(default="posts", alias="type"),
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> dict[str, Any]:
    """Ranked matches with highlighted (HTML-escaped, <mark>) title and snippet."""
    page = await service.search(
        db, viewer, q, kind=search_type, codec=codec, cursor=cursor, limit=limit, cache=cache
    )
    return {"items": page.items, "next_cursor": page.next_cursor, "has_more": page.has_more}
