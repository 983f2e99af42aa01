"""Threaded comments: a page of top-level threads with their replies, and the writes.

A tree page costs a fixed number of statements: the post, one keyset page of top-level
comments, *all* their replies in one statement (by ``root_id``, depth-limited), their
authors, and the viewer's likes. Deletion is soft: the row stays, its body is withheld,
and the replies keep their place.

Cache: a tree page without the viewer's likes is the same for everyone, so it is cached
(``comments:<post>:<page digest>``, tag ``post:<id>:comments``); visibility comes from the
cached post body and the viewer's likes of the page's comments are cached per viewer under
the same tag (no statement on a hit, signed in or not, against five on a miss). Every
write that changes a page (create, edit, delete, a like on a comment changing its
``like_count``, deleting the post) invalidates the tag after commit; create and delete
also invalidate ``stats`` (the platform's comment count).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth.principal import Principal
from stratabase.cache import Cache, invalidate_tags_after_commit
from stratabase.cache.keys import COMMENTS, TAG_STATS, tag_post
from stratabase.changes import emit
from stratabase.content import queries, reads
from stratabase.db import portable
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import LikeTarget, PostStatus
from stratabase.exceptions import Conflict, NotFound, PermissionDenied
from stratabase.feeds.pages import TaggedPage
from stratabase.models import Comment, Like, PostStats, User
from stratabase.pagination import CursorCodec, after
from stratabase.schemas.content import CommentCreate, CommentUpdate
from stratabase.social.queries import require_not_blocked

#: Deepest reply stored (0 is top level); deeper replies attach to the deepest ancestor.
MAX_DEPTH = 32
#: Replies loaded per page of threads, at most (a guard against pathological threads).
MAX_REPLIES_PER_PAGE = 2_000


def _node(comment: Comment, authors: dict[int, User], liked: set[int]) -> dict[str, Any]:
    deleted = comment.deleted_at is not None
    author = None if deleted else authors.get(comment.author_id)
    return {
        "id": comment.id,
        "post_id": comment.post_id,
        "parent_id": comment.parent_id,
        "root_id": comment.root_id,
        "depth": comment.depth,
        "author": queries.public_user(author) if author else None,
        "body": "" if deleted else comment.body,
        "deleted": deleted,
        "like_count": comment.like_count,
        "liked": comment.id in liked,
        "created_at": comment.created_at,
        "updated_at": comment.updated_at,
        "replies": [],
    }


def tag_comments(post_id: int) -> str:
    """Carried by every cached comment page of the post."""
    return f"post:{post_id}:comments"


async def tree(
    db: Database,
    cache: Cache,
    viewer: Principal | None,
    post_id: int,
    *,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
    depth: int,
) -> TaggedPage[dict[str, Any]]:
    """Top-level comments oldest first (keyset), each with replies nested to ``depth``.
    Its ``tags`` (the post's and its comments') and ``fresh_for`` (the comment namespace's
    TTL) say how long an anonymous answer built from it may be kept."""
    body = await reads.post_body(db, cache, post_id)
    if body is None or not queries.may_see(body["status"], body["author_id"], viewer):
        raise NotFound(f"post {post_id} does not exist", field="post_id")
    kind = f"comments:{post_id}"
    start = codec.decode(kind, cursor, 2) if cursor else None
    digest = hashlib.sha256(repr((start, limit, depth)).encode()).hexdigest()[:32]

    async def load() -> dict[str, Any]:
        return await _load_page(db, post_id, start, limit, depth)

    page = await cache.get_or_load(
        COMMENTS.key(post_id, digest), load, tags=[tag_comments(post_id)]
    )
    items: list[dict[str, Any]] = page["items"]
    if viewer is not None and items:
        nodes = list(_walk(items))
        liked = await _liked(db, cache, viewer, post_id, digest, [n["id"] for n in nodes])
        for node in nodes:
            node["liked"] = node["id"] in liked
    last = page["next"]
    next_cursor = codec.encode(kind, [datetime.fromisoformat(last[0]), last[1]]) if last else None
    tags = (tag_post(post_id), tag_comments(post_id))
    return TaggedPage(items, next_cursor, tags, float(COMMENTS.ttl))


async def _liked(
    db: Database, cache: Cache, viewer: Principal, post_id: int, digest: str, ids: list[int]
) -> set[int]:
    """Which of the page's comments ``ids`` the viewer likes, cached per viewer and page
    under the page's tag ``post:<id>:comments``: every like and unlike of a comment of the
    post invalidates it after commit (its ``like_count`` changes), so the viewer's own like
    shows on their next read, and a warm signed-in tree costs no statement."""

    async def load() -> list[int]:
        async with db.session() as session:
            return list(
                await session.scalars(
                    select(Like.target_id).where(
                        Like.user_id == viewer.user_id,
                        Like.target_type == LikeTarget.COMMENT,
                        Like.target_id.in_(ids),
                    )
                )
            )

    key = COMMENTS.key(post_id, digest, "liked", viewer.user_id)
    return set(await cache.get_or_load(key, load, tags=[tag_comments(post_id)]))


def _walk(nodes: list[dict[str, Any]]) -> Any:
    for node in nodes:
        yield node
        yield from _walk(node["replies"])


async def _load_page(
    db: Database, post_id: int, start: list[Any] | None, limit: int, depth: int
) -> dict[str, Any]:
    """A tree page with ``liked`` false everywhere: ``{"items": …, "next": [at, id] | None}``."""
    async with db.session() as session:
        columns = (Comment.created_at, Comment.id)
        statement = select(Comment).where(Comment.post_id == post_id, Comment.parent_id.is_(None))
        if start is not None:
            statement = statement.where(after(columns, start, descending=False))
        top = list(
            await session.scalars(
                statement.order_by(Comment.created_at, Comment.id).limit(limit + 1)
            )
        )
        more = len(top) > limit
        top = top[:limit]
        replies: list[Comment] = []
        if top and depth > 0:
            replies = list(
                await session.scalars(
                    select(Comment)
                    .where(Comment.root_id.in_([c.id for c in top]), Comment.depth <= depth)
                    .order_by(Comment.created_at, Comment.id)
                    .limit(MAX_REPLIES_PER_PAGE)
                )
            )
        everything = top + replies
        authors: dict[int, User] = {}
        if everything:
            authors = {
                u.id: u
                for u in await session.scalars(
                    select(User).where(User.id.in_({c.author_id for c in everything}))
                )
            }
    nodes = {c.id: _node(c, authors, set()) for c in everything}
    for reply in replies:
        parent = nodes.get(reply.parent_id or 0)
        if parent is not None:
            parent["replies"].append(nodes[reply.id])
    return {
        "items": [nodes[c.id] for c in top],
        "next": [top[-1].created_at, top[-1].id] if more else None,
    }


async def create(
    db: Database, cache: Cache, actor: Principal, post_id: int, data: CommentCreate
) -> dict[str, Any]:
    """Comment on a published post, or reply; past the maximum depth a reply becomes its
    parent's sibling. Blocked users and replies to deleted comments are refused."""
    actor.require_writer()

    async def work(session: AsyncSession) -> dict[str, Any]:
        post = await queries.get_visible_post(session, post_id, actor)
        if post.status != PostStatus.PUBLISHED:
            raise Conflict("comments are open on published posts only")
        await require_not_blocked(session, post.author_id, actor.user_id)
        parent_id = root_id = None
        depth = 0
        if data.parent_id is not None:
            parent = await session.get(Comment, data.parent_id)
            if parent is None or parent.post_id != post_id:
                raise NotFound(f"comment {data.parent_id} is not on this post", field="parent_id")
            if parent.deleted_at is not None:
                raise Conflict("cannot reply to a deleted comment")
            await require_not_blocked(session, parent.author_id, actor.user_id)
            if parent.depth >= MAX_DEPTH:
                parent_id, depth = parent.parent_id, parent.depth
            else:
                parent_id, depth = parent.id, parent.depth + 1
            root_id = parent.root_id or parent.id
        now = utcnow()
        comment = Comment(
            post_id=post_id,
            author_id=actor.user_id,
            parent_id=parent_id,
            root_id=root_id,
            depth=depth,
            body=data.body,
            created_at=now,
            updated_at=now,
        )
        session.add(comment)
        await session.flush()
        await _bump_comments(session, post_id, 1)
        await emit.comment_changed(session, comment, "comment.created")
        invalidate_tags_after_commit(session, cache, [tag_comments(post_id), TAG_STATS])
        author = await session.get(User, actor.user_id)
        return _node(comment, {actor.user_id: author} if author else {}, set())

    return await db.transaction(work)


async def _bump_comments(session: AsyncSession, post_id: int, delta: int) -> None:
    await session.execute(
        portable.upsert(
            session,
            PostStats,
            {"post_id": post_id, "comments": max(delta, 0), "updated_at": utcnow()},
            on=["post_id"],
            update=lambda new: {
                "comments": PostStats.comments + delta,
                "updated_at": new.updated_at,
            },
        )
    )


async def _live_comment(session: AsyncSession, comment_id: int, viewer: Principal) -> Comment:
    comment = await session.get(Comment, comment_id)
    if comment is None or comment.deleted_at is not None:
        raise NotFound(f"comment {comment_id} does not exist", field="comment_id")
    await queries.get_visible_post(session, comment.post_id, viewer)
    return comment


async def edit(
    db: Database, cache: Cache, actor: Principal, comment_id: int, data: CommentUpdate
) -> dict[str, Any]:
    """Change a live comment's body; only its author may."""
    actor.require_writer()

    async def work(session: AsyncSession) -> dict[str, Any]:
        comment = await _live_comment(session, comment_id, actor)
        if comment.author_id != actor.user_id:
            raise PermissionDenied("only the author may edit this comment")
        if data.body is not None:
            comment.body = data.body
        comment.updated_at = utcnow()
        await session.flush()
        await emit.comment_changed(session, comment, "comment.edited")
        invalidate_tags_after_commit(session, cache, [tag_comments(comment.post_id)])
        author = await session.get(User, actor.user_id)
        liked = await session.scalar(
            select(Like.target_id).where(
                Like.user_id == actor.user_id,
                Like.target_type == LikeTarget.COMMENT,
                Like.target_id == comment.id,
            )
        )
        return _node(
            comment, {actor.user_id: author} if author else {}, {liked} if liked else set()
        )

    return await db.transaction(work)


async def delete(db: Database, cache: Cache, actor: Principal, comment_id: int) -> None:
    """Soft delete by the author, or by a moderator (which is how moderators hide one)."""
    actor.require_writer()

    async def work(session: AsyncSession) -> None:
        comment = await _live_comment(session, comment_id, actor)
        if comment.author_id != actor.user_id and not actor.is_moderator:
            raise PermissionDenied("only the author or a moderator may delete this comment")
        result = await session.execute(
            update(Comment)
            .where(Comment.id == comment_id, Comment.deleted_at.is_(None))
            .values(deleted_at=utcnow())
        )
        if result.rowcount:  # type: ignore[attr-defined]
            await _bump_comments(session, comment.post_id, -1)
            await emit.comment_changed(session, comment, "comment.deleted")
            invalidate_tags_after_commit(session, cache, [tag_comments(comment.post_id), TAG_STATS])

    await db.transaction(work)
