"""Full-text search over posts and users."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Query

from stratabase.api.deps import (
    CacheDep,
    CursorsDep,
    DatabaseDep,
    OptionalUserDep,
)
from stratabase.api.routes._params import DEFAULT, Cursor, Limit
from stratabase.api.routes._router import public_router
from stratabase.api.schemas.common import PageOut
from stratabase.api.schemas.posts import SearchHitOut
from stratabase.search import service
from stratabase.search.text import MAX_QUERY_LENGTH

router = public_router("/v1", "search")


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
