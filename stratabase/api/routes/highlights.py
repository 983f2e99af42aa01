"""Highlights: mark a passage of a post's block, list yours or a post's, delete yours."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response, status

from stratabase.api.deps import (
    CurrentUserDep,
    CursorsDep,
    DatabaseDep,
    OptionalUserDep,
    WriterUserDep,
)
from stratabase.api.routes._params import DEFAULT, Cursor, Limit, ObjectId
from stratabase.api.routes._router import public_router
from stratabase.api.schemas.common import PageOut
from stratabase.highlights import service
from stratabase.highlights.schemas import HighlightCreate, HighlightRead, PostHighlights
from stratabase.schemas.common import MAX_ID

router = public_router("/v1", "highlights")


@router.post("/posts/{post_id}/highlights", response_model=HighlightRead, status_code=201)
async def create_highlight(
    post_id: ObjectId, body: HighlightCreate, principal: WriterUserDep, db: DatabaseDep
) -> HighlightRead:
    """Highlight ``[start_offset, end_offset)`` of block ``block_index``'s text. 422 names
    the field at fault: a block that does not exist or has no text (``block_index``),
    a range past the text (``end_offset``) or empty (``start_offset``)."""
    return await service.create(db, principal, post_id, body)


@router.get("/posts/{post_id}/highlights", response_model=PostHighlights)
async def post_highlights(
    post_id: ObjectId, viewer: OptionalUserDep, db: DatabaseDep
) -> PostHighlights:
    """Everyone's highlights of the post as counts per block; yours with their text."""
    return await service.post_highlights(db, viewer, post_id)


@router.get("/highlights", response_model=PageOut[HighlightRead])
async def my_highlights(
    principal: CurrentUserDep,
    db: DatabaseDep,
    codec: CursorsDep,
    post_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="only this post's")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> PageOut[HighlightRead]:
    """Your highlights, newest first (keyset pages)."""
    page = await service.list_mine(
        db, principal, post_id=post_id, codec=codec, cursor=cursor, limit=limit
    )
    return PageOut(items=page.items, next_cursor=page.next_cursor, has_more=page.has_more)


@router.delete("/highlights/{highlight_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_highlight(
    highlight_id: ObjectId, principal: WriterUserDep, db: DatabaseDep
) -> Response:
    """Delete one of your highlights (404 for anyone else's)."""
    await service.delete_mine(db, principal, highlight_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
