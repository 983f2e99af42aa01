"""Full-text search over posts and users."""

from __future__ import annotations

from typing import Literal

from fastapi import Query, Request
from fastapi.responses import Response
from pydantic import TypeAdapter

from stratabase.api.deps import (
    CacheDep,
    CursorsDep,
    DatabaseDep,
    OptionalUserDep,
)
from stratabase.api.responses import Rendered, cached_answer, json_answer
from stratabase.api.routes._params import DEFAULT, Cursor, Limit
from stratabase.api.routes._router import public_router
from stratabase.api.schemas.common import PageOut
from stratabase.api.schemas.posts import SearchHitOut
from stratabase.cache.keys import SEARCH, TAG_SEARCH
from stratabase.content import counters
from stratabase.feeds import pages
from stratabase.search import service
from stratabase.search.text import MAX_QUERY_LENGTH

router = public_router("/v1", "search")
_HITS = TypeAdapter(PageOut[SearchHitOut])


@router.get("/search", response_model=PageOut[SearchHitOut])
async def search(
    request: Request,
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
) -> Response:
    """Ranked matches with highlighted (HTML-escaped, <mark>) title and snippet."""

    async def render(exact: bool) -> Rendered:
        page = await service.search(
            db, viewer, q, kind=search_type, codec=codec, cursor=cursor, limit=limit,
            cache=cache, exact_counters=exact,
        )  # fmt: skip
        posts = [post for item in page.items if (post := item["post"]) is not None]
        body = {"items": page.items, "next_cursor": page.next_cursor, "has_more": page.has_more}
        tags = pages.answer_tags([TAG_SEARCH], posts) if page.items else None
        fresh_for = float(counters.BOUND if search_type == "posts" else SEARCH.ttl)
        return Rendered(_HITS.dump_json(_HITS.validate_python(body)), tags, fresh_for)

    if viewer is None:
        return await cached_answer(request, cache, render)
    return json_answer(request, (await render(False)).body, public=False)
