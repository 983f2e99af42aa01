"""Threaded comments: the tree of a post, replies, edits, soft deletes and likes."""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request, Response, status
from pydantic import TypeAdapter

from stratabase.api.deps import (
    CacheDep,
    CursorsDep,
    DatabaseDep,
    OptionalUserDep,
    WriterUserDep,
)
from stratabase.api.responses import Rendered, cached_answer, json_answer
from stratabase.api.routes._params import DEFAULT, Cursor, Limit, ObjectId
from stratabase.api.routes._router import public_router
from stratabase.api.schemas.common import PageOut
from stratabase.api.schemas.posts import CommentOut
from stratabase.api.schemas.users import LikeOut
from stratabase.content import comments
from stratabase.content import service as content
from stratabase.enums import LikeTarget
from stratabase.schemas.content import CommentCreate, CommentUpdate

router = public_router("/v1", "comments")
_TREE = TypeAdapter(PageOut[CommentOut])


@router.get("/posts/{post_id}/comments", response_model=PageOut[CommentOut])
async def comment_tree(
    request: Request,
    post_id: ObjectId,
    viewer: OptionalUserDep,
    db: DatabaseDep,
    cache: CacheDep,
    codec: CursorsDep,
    depth: int = Query(default=3, ge=0, le=comments.MAX_DEPTH, description="reply depth"),
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> Response:
    """Top-level comments (oldest first, paged) with their replies nested to ``depth``.
    Never stale: every comment write, comment like and post deletion shows on the next
    read (the viewer's own likes are read fresh)."""

    async def render(exact: bool) -> Rendered:
        page = await comments.tree(
            db, cache, viewer, post_id, codec=codec, cursor=cursor, limit=limit, depth=depth
        )
        body = {"items": page.items, "next_cursor": page.next_cursor, "has_more": page.has_more}
        tags = page.tags if page.items else None
        return Rendered(_TREE.dump_json(_TREE.validate_python(body)), tags, page.fresh_for)

    if viewer is None:
        return await cached_answer(request, cache, render)
    return json_answer(request, (await render(False)).body, public=False)


@router.post(
    "/posts/{post_id}/comments", status_code=status.HTTP_201_CREATED, response_model=CommentOut
)
async def create_comment(
    post_id: ObjectId,
    body: CommentCreate,
    principal: WriterUserDep,
    db: DatabaseDep,
    cache: CacheDep,
) -> Any:
    """Comment on a post, or reply with ``parent_id``; refused if the author blocked you."""
    return await comments.create(db, cache, principal, post_id, body)


@router.patch("/comments/{comment_id}", response_model=CommentOut)
async def edit_comment(
    comment_id: ObjectId,
    body: CommentUpdate,
    principal: WriterUserDep,
    db: DatabaseDep,
    cache: CacheDep,
) -> Any:
    """Edit a comment (its author only)."""
    return await comments.edit(db, cache, principal, comment_id, body)


@router.delete("/comments/{comment_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_comment(
    comment_id: ObjectId, principal: WriterUserDep, db: DatabaseDep, cache: CacheDep
) -> Response:
    """Soft-delete a comment (author or moderator); replies keep their place."""
    await comments.delete(db, cache, principal, comment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/comments/{comment_id}/like", response_model=LikeOut)
async def like_comment(
    comment_id: ObjectId, principal: WriterUserDep, db: DatabaseDep, cache: CacheDep
) -> Any:
    """Like a comment; liking it again changes nothing."""
    return await content.set_like(db, cache, principal, LikeTarget.COMMENT, comment_id, liked=True)


@router.delete("/comments/{comment_id}/like", response_model=LikeOut)
async def unlike_comment(
    comment_id: ObjectId, principal: WriterUserDep, db: DatabaseDep, cache: CacheDep
) -> Any:
    """Withdraw a like; withdrawing one not given changes nothing."""
    return await content.set_like(db, cache, principal, LikeTarget.COMMENT, comment_id, liked=False)
