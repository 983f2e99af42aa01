"""Posts: lists with filters, batch reads, the post page, writes, views and likes."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import Query, Request, Response, status
from pydantic import TypeAdapter

from stratabase.api.deps import (
    CacheDep,
    CursorsDep,
    DatabaseDep,
    OptionalUserDep,
    WriterUserDep,
    get_cursors,
)
from stratabase.api.responses import json_answer, splice
from stratabase.api.routes._lists import post_fields, post_page, public_post_page
from stratabase.api.routes._params import (
    DEFAULT,
    Cursor,
    Fields,
    Ids,
    Limit,
    ObjectId,
    parse_ids,
)
from stratabase.api.routes._router import public_router
from stratabase.api.schemas.common import PageOut
from stratabase.api.schemas.posts import CommentOut, PostOut, PostPageOut
from stratabase.api.schemas.users import LikeOut, ViewsOut
from stratabase.auth.principal import Principal
from stratabase.cache import Cache
from stratabase.cache.keys import COMMENTS
from stratabase.content import comments, reads, service
from stratabase.content.queries import PostFilter
from stratabase.db.session import Database
from stratabase.enums import LikeTarget, PostKind, PostStatus
from stratabase.feeds import service as feeds
from stratabase.feeds.pages import PostJson, TaggedPage
from stratabase.pagination import CursorCodec
from stratabase.schemas.common import MAX_ID, Slug
from stratabase.schemas.content import PostCreate, PostUpdate

router = public_router("/v1/posts", "posts")


@router.get("", response_model=PageOut[PostOut])
async def list_posts(
    request: Request,
    db: DatabaseDep,
    viewer: OptionalUserDep,
    codec: CursorsDep,
    category: Annotated[int | None, Query(ge=1, le=MAX_ID, description="category id")] = None,
    tag: Annotated[Slug | None, Query(description="tag slug")] = None,
    author: Annotated[int | None, Query(ge=1, le=MAX_ID, description="author's id")] = None,
    kind: PostKind | None = None,
    post_status: Annotated[PostStatus, Query(alias="status")] = PostStatus.PUBLISHED,
    ids: Ids = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
    fields: Fields = None,
) -> Response:
    """Posts newest first, filtered; or exactly the visible posts among ``ids`` (batch).
    ``fields`` loads only the columns and relations named."""
    names, shape = post_fields(fields)
    wanted = parse_ids(ids)
    if wanted is not None:
        page = await reads.posts_by_ids(db, viewer, wanted, shape)
    else:
        flt = PostFilter(
            category_id=category, tag=tag, author_id=author, kind=kind, status=post_status
        )
        page = await reads.list_posts(
            db, viewer, flt, codec=codec, cursor=cursor, limit=limit, shape=shape
        )
    return post_page(request, page, names, public=viewer is None)


@router.get("/popular", response_model=PageOut[PostOut])
async def popular(
    request: Request,
    db: DatabaseDep,
    cache: CacheDep,
    viewer: OptionalUserDep,
    codec: CursorsDep,
    days: int = Query(default=7, ge=1, le=365),
    kind: PostKind | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
    fields: Fields = None,
) -> Response:
    """The most-liked posts (of ``kind``, or all) published in the last ``days`` days, from
    a ranking recomputed every 30 s (order at most 45 s old; contents and stats fresh)."""
    wanted, shape = post_fields(fields)

    async def load(exact: bool) -> TaggedPage[PostJson]:
        return await feeds.popular(
            db, viewer, days=days, kind=kind, cache=cache, shape=shape,
            codec=codec, cursor=cursor, limit=limit, exact_counters=exact,
        )  # fmt: skip

    if viewer is None:
        return await public_post_page(request, cache, load, wanted)
    return post_page(request, await load(False), wanted, public=False)


@router.get("/trending", response_model=PageOut[PostOut])
async def trending(
    request: Request,
    db: DatabaseDep,
    cache: CacheDep,
    viewer: OptionalUserDep,
    codec: CursorsDep,
    kind: PostKind | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
    fields: Fields = None,
) -> Response:
    """Recent posts (of ``kind``, or all) by engagement decayed with age (``score``), from a
    ranking recomputed every 30 s (order at most 45 s old; contents and stats fresh)."""
    wanted, shape = post_fields(fields)

    async def load(exact: bool) -> TaggedPage[PostJson]:
        return await feeds.trending(
            db, viewer, kind=kind, cache=cache, shape=shape,
            codec=codec, cursor=cursor, limit=limit, exact_counters=exact,
        )  # fmt: skip

    if viewer is None:
        return await public_post_page(request, cache, load, wanted)
    return post_page(request, await load(False), wanted, public=False)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PostOut)
async def create_post(
    body: PostCreate, principal: WriterUserDep, db: DatabaseDep, cache: CacheDep
) -> Any:
    """A new post by the caller (draft unless ``status`` says otherwise)."""
    return await service.create_post(db, cache, principal, body)


class PostInclude(StrEnum):
    """What ``GET /v1/posts/{id}`` may embed besides the post."""

    #: The first page of the comment tree (as ``GET /v1/posts/{id}/comments`` answers it).
    COMMENTS = "comments"


#: Reply depth of the embedded first comment page (the comment tree route's default).
EMBEDDED_COMMENT_DEPTH = 3
_COMMENT_PAGE: TypeAdapter[PageOut[CommentOut]] = TypeAdapter(PageOut[CommentOut])


@router.get("/{post_id}", response_model=PostPageOut)
async def get_post(
    request: Request,
    post_id: ObjectId,
    viewer: OptionalUserDep,
    db: DatabaseDep,
    cache: CacheDep,
    include: Annotated[
        PostInclude | None,
        Query(description="`comments`: embed the first page of the comment tree"),
    ] = None,
) -> Response:
    """The post page: post, author, category, tags, media and stats in one answer; with
    ``include=comments``, also the first page of comments (``comments``). Answers carry an
    ``ETag`` (``If-None-Match`` → 304); anonymous ones may be cached for a few seconds."""
    page = await reads.get_post(db, cache, viewer, post_id)
    body = page.json
    if include == PostInclude.COMMENTS:
        codec = await get_cursors(request)  # not a dependency: the plain page skips it
        body = splice(body, "comments", await _first_comments(db, cache, viewer, codec, post_id))
    return json_answer(request, body, public=viewer is None)


async def _first_comments(
    db: Database, cache: Cache, viewer: Principal | None, codec: CursorCodec, post_id: int
) -> bytes:
    """The first comment page as JSON; the anonymous one cached as bytes (tag
    ``post:<id>:comments``, invalidated by every comment write)."""

    async def render() -> str:
        page = await comments.tree(
            db,
            cache,
            viewer,
            post_id,
            codec=codec,
            cursor=None,
            limit=DEFAULT,
            depth=EMBEDDED_COMMENT_DEPTH,
        )
        out = {"items": page.items, "next_cursor": page.next_cursor, "has_more": page.has_more}
        return _COMMENT_PAGE.dump_json(_COMMENT_PAGE.validate_python(out)).decode()

    if viewer is not None:  # ``liked`` differs per reader
        return (await render()).encode()
    text: str = await cache.get_or_load(
        COMMENTS.key(post_id, "first"), render, tags=[comments.tag_comments(post_id)]
    )
    return text.encode()


@router.patch("/{post_id}", response_model=PostOut)
async def update_post(
    post_id: ObjectId, body: PostUpdate, principal: WriterUserDep, db: DatabaseDep, cache: CacheDep
) -> Any:
    """Edit a post (its author only)."""
    return await service.update_post(db, cache, principal, post_id, body)


@router.delete("/{post_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_post(
    post_id: ObjectId, principal: WriterUserDep, db: DatabaseDep, cache: CacheDep
) -> Response:
    """Delete a post with its comments and likes (its author only)."""
    await service.delete_post(db, cache, principal, post_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _status_route(path: str, target: PostStatus, doc: str) -> None:
    async def change(
        post_id: ObjectId, principal: WriterUserDep, db: DatabaseDep, cache: CacheDep
    ) -> Any:
        return await service.set_status(db, cache, principal, post_id, target)

    change.__doc__ = doc
    router.add_api_route(
        f"/{{post_id}}/{path}",
        change,
        methods=["POST"],
        response_model=PostOut,
        name=f"{path}_post",
    )


_status_route(
    "publish", PostStatus.PUBLISHED, "Publish (author), or restore a hidden post (moderator)."
)
_status_route("archive", PostStatus.ARCHIVED, "Archive a post (author).")
_status_route("hide", PostStatus.HIDDEN, "Hide a post from everyone but its author (moderator).")


@router.post("/{post_id}/views", response_model=ViewsOut)
async def record_view(post_id: ObjectId, viewer: OptionalUserDep, db: DatabaseDep) -> ViewsOut:
    """Count one view (an atomic increment: concurrent views are never lost)."""
    return ViewsOut(views=await service.record_view(db, viewer, post_id))


@router.post("/{post_id}/like", response_model=LikeOut)
async def like_post(
    post_id: ObjectId, principal: WriterUserDep, db: DatabaseDep, cache: CacheDep
) -> Any:
    """Like a post (idempotent); refused if its author blocked you."""
    return await service.set_like(db, cache, principal, LikeTarget.POST, post_id, liked=True)


@router.delete("/{post_id}/like", response_model=LikeOut)
async def unlike_post(
    post_id: ObjectId, principal: WriterUserDep, db: DatabaseDep, cache: CacheDep
) -> Any:
    """Remove your like (idempotent)."""
    return await service.set_like(db, cache, principal, LikeTarget.POST, post_id, liked=False)
