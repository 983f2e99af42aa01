"""What a report points at: checking it, describing it, taking it down and restoring it.

Every function runs inside the caller's transaction (the decision's), so the content's
change, the review row and the audit entry commit together. Cache invalidation and change
events are those the content services use for the same change of state: a post's status
(``post:<id>``, its author's ``user:<id>``, ``search``, its category, ``stats`` when it
leaves or re-enters ``published``; ``post.hidden``/``post.published`` events), a comment's
removal (``post:<id>:comments``, ``stats``; ``comment.deleted``/``comment.created``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth.principal import Principal
from stratabase.cache import Cache, invalidate_tags_after_commit
from stratabase.cache.keys import TAG_SEARCH, TAG_STATS, tag_category, tag_post, tag_user
from stratabase.changes import emit
from stratabase.content import queries
from stratabase.content.comments import tag_comments
from stratabase.db.types import utcnow
from stratabase.enums import PostStatus, ReportTarget, UserStatus
from stratabase.exceptions import NotFound
from stratabase.models import Comment, Post, PostStats, User
from stratabase.search import index

__all__ = ["describe_many", "restore", "subject_of", "take_down", "visible_target"]

_EXCERPT = 280


async def visible_target(
    session: AsyncSession, viewer: Principal, target_type: ReportTarget, target_id: int
) -> int:
    """The id of the user the target belongs to, if ``viewer`` may see it; else NotFound."""
    if target_type == ReportTarget.POST:
        post = await queries.get_visible_post(session, target_id, viewer)
        return post.author_id
    if target_type == ReportTarget.COMMENT:
        comment = await session.get(Comment, target_id)
        if comment is None or comment.deleted_at is not None:
            raise NotFound(f"comment {target_id} does not exist", field="target_id")
        await queries.get_visible_post(session, comment.post_id, viewer)
        return comment.author_id
    user = await session.get(User, target_id)
    if user is None or user.status == UserStatus.DELETED:
        raise NotFound(f"user {target_id} does not exist", field="target_id")
    return user.id


async def subject_of(session: AsyncSession, target_type: str, target_id: int) -> int | None:
    """The user a target belongs to (None: it no longer exists)."""
    if target_type == ReportTarget.POST:
        return await session.scalar(select(Post.author_id).where(Post.id == target_id))
    if target_type == ReportTarget.COMMENT:
        return await session.scalar(select(Comment.author_id).where(Comment.id == target_id))
    return await session.scalar(select(User.id).where(User.id == target_id))


def _excerpt(text: str | None) -> str | None:
    if text is None or len(text) <= _EXCERPT:
        return text
    return text[:_EXCERPT] + "…"


async def describe_many(
    session: AsyncSession, targets: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], dict[str, Any]]:
    """What moderators see of each target: one statement per kind of target."""
    wanted: dict[str, set[int]] = {}
    for kind, target_id in targets:
        wanted.setdefault(str(kind), set()).add(target_id)
    found: dict[tuple[str, int], dict[str, Any]] = {}
    if ids := wanted.get(ReportTarget.POST):
        rows = await session.execute(
            select(Post.id, Post.title, Post.summary, Post.status, Post.author_id).where(
                Post.id.in_(ids)
            )
        )
        for row in rows:
            found[(ReportTarget.POST, row.id)] = {
                "title": row.title,
                "excerpt": _excerpt(row.summary),
                "status": PostStatus(row.status).value,
                "author_id": row.author_id,
            }
    if ids := wanted.get(ReportTarget.COMMENT):
        rows = await session.execute(
            select(
                Comment.id, Comment.body, Comment.post_id, Comment.author_id, Comment.deleted_at
            ).where(Comment.id.in_(ids))
        )
        for row in rows:
            found[(ReportTarget.COMMENT, row.id)] = {
                "body": _excerpt(row.body),
                "post_id": row.post_id,
                "author_id": row.author_id,
                "removed": row.deleted_at is not None,
            }
    if ids := wanted.get(ReportTarget.USER):
        rows = await session.execute(
            select(User.id, User.username, User.name, User.bio, User.status).where(User.id.in_(ids))
        )
        for row in rows:
            found[(ReportTarget.USER, row.id)] = {
                "username": row.username,
                "name": row.name,
                "bio": _excerpt(row.bio),
                "status": UserStatus(row.status).value,
            }
    return found


async def _set_post_status(
    session: AsyncSession, cache: Cache, post: Post, target: PostStatus
) -> None:
    before = PostStatus(post.status)
    post.status = target
    post.updated_at = utcnow()
    await session.flush()
    await index.sync_post(session, post)
    await emit.post_changed(session, post, before=before)
    moved = (before == PostStatus.PUBLISHED) != (target == PostStatus.PUBLISHED)
    listed = (
        [TAG_SEARCH] if post.category_id is None else [TAG_SEARCH, tag_category(post.category_id)]
    )
    stale = [tag_post(post.id), tag_user(post.author_id), *listed, *([TAG_STATS] if moved else [])]
    invalidate_tags_after_commit(session, cache, stale)


async def _set_comment_removed(
    session: AsyncSession, cache: Cache, comment_id: int, *, removed: bool
) -> bool:
    """Soft-delete (or bring back) a comment with its post's comment count, as the
    comment service does; False when it was already so (or is gone)."""
    comment = await session.get(Comment, comment_id)
    if comment is None:
        return False
    now_set = Comment.deleted_at.is_(None) if removed else Comment.deleted_at.is_not(None)
    done = await session.execute(
        update(Comment)
        .where(Comment.id == comment_id, now_set)
        .values(deleted_at=utcnow() if removed else None)
    )
    if not done.rowcount:  # type: ignore[attr-defined]
        return False
    await session.execute(
        update(PostStats)
        .where(PostStats.post_id == comment.post_id)
        .values(comments=PostStats.comments + (-1 if removed else 1), updated_at=utcnow())
    )
    await emit.comment_changed(
        session, comment, "comment.deleted" if removed else "comment.created"
    )
    invalidate_tags_after_commit(session, cache, [tag_comments(comment.post_id), TAG_STATS])
    return True


async def take_down(
    session: AsyncSession, cache: Cache, target_type: str, target_id: int
) -> dict[str, Any] | None:
    """Take a post or comment out of public view; returns what ``restore`` needs (None:
    nothing to take down — a user, a target already down or gone)."""
    if target_type == ReportTarget.POST:
        post = await session.get(Post, target_id, with_for_update=True)
        if post is None or post.status == PostStatus.HIDDEN:
            return None
        previous = PostStatus(post.status).value
        await _set_post_status(session, cache, post, PostStatus.HIDDEN)
        return {"status": previous}
    if target_type == ReportTarget.COMMENT:
        taken = await _set_comment_removed(session, cache, target_id, removed=True)
        return {"deleted": False} if taken else None
    return None


async def restore(
    session: AsyncSession, cache: Cache, target_type: str, target_id: int, previous: dict[str, Any]
) -> bool:
    """Put back what ``take_down`` took down; False when there is nothing to restore."""
    if target_type == ReportTarget.POST and "status" in previous:
        post = await session.get(Post, target_id)
        if post is None or post.status != PostStatus.HIDDEN:
            return False
        await _set_post_status(session, cache, post, PostStatus(previous["status"]))
        return True
    if target_type == ReportTarget.COMMENT and previous.get("deleted") is False:
        return await _set_comment_removed(session, cache, target_id, removed=False)
    return False
