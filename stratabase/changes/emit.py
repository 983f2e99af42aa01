"""What each domain write puts in the outbox: one call per write site, in its transaction.

Payloads carry ids and the few fields a client needs to decide whether to refetch, plus
the routing facts authorization uses (``author_id``, ``category_id``, ``public``); never a
private field (an email, a balance of someone else).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.changes.outbox import append, stage
from stratabase.enums import LikeTarget, PostStatus
from stratabase.models import Comment, Post, User

if TYPE_CHECKING:
    from stratabase.ledger.values import WalletChange

__all__ = [
    "comment_changed",
    "follow_changed",
    "jobs_changed",
    "like_changed",
    "post_changed",
    "profile_changed",
    "wallet_changed",
]

_BY_STATUS = {
    PostStatus.PUBLISHED: "post.published",
    PostStatus.ARCHIVED: "post.archived",
    PostStatus.HIDDEN: "post.hidden",
    PostStatus.DRAFT: "post.unpublished",
}


async def post_changed(
    session: AsyncSession, post: Post, type: str | None = None, *, before: PostStatus | None = None
) -> None:
    """``post.created|updated|deleted``, or (no ``type``) the event of its new status.

    Public when the post is, or was (``before``) published: readers must learn it left.
    """
    status = PostStatus(post.status)
    public = PostStatus.PUBLISHED in (status, before)
    await append(
        session,
        f"post:{post.id}",
        type or _BY_STATUS[status],
        {
            "post_id": post.id,
            "author_id": post.author_id,
            "category_id": post.category_id,
            "status": status.value,
            "public": public,
        },
    )


async def _post_facts(session: AsyncSession, post_id: int) -> tuple[int | None, int | None, bool]:
    row = (
        await session.execute(
            select(Post.author_id, Post.category_id, Post.status).where(Post.id == post_id)
        )
    ).first()
    if row is None:
        return None, None, False
    return row.author_id, row.category_id, PostStatus(row.status) == PostStatus.PUBLISHED


async def comment_changed(session: AsyncSession, comment: Comment, type: str) -> None:
    """``comment.created|edited|deleted`` on ``comments:<post>``; a reply also tells the
    parent's author (``comment.reply`` in their ``me``)."""
    _, _, public = await _post_facts(session, comment.post_id)
    payload: dict[str, Any] = {
        "comment_id": comment.id,
        "post_id": comment.post_id,
        "author_id": comment.author_id,
        "parent_id": comment.parent_id,
        "public": public,
    }
    await append(session, f"comments:{comment.post_id}", type, payload)
    if type == "comment.created" and comment.parent_id is not None:
        parent_author = await session.scalar(
            select(Comment.author_id).where(Comment.id == comment.parent_id)
        )
        if parent_author is not None and parent_author != comment.author_id:
            await append(session, f"me:{parent_author}", "comment.reply", payload)


async def like_changed(
    session: AsyncSession,
    user_id: int,
    target: LikeTarget,
    target_id: int,
    liked: bool,
    count: int,
) -> None:
    """``post.liked|unliked`` (also on ``trending``) or ``comment.liked|unliked``."""
    verb = "liked" if liked else "unliked"
    if target == LikeTarget.POST:
        author_id, category_id, public = await _post_facts(session, target_id)
        payload = {
            "post_id": target_id,
            "user_id": user_id,
            "likes": count,
            "author_id": author_id,
            "category_id": category_id,
            "public": public,
        }
        await append(session, f"post:{target_id}", f"post.{verb}", payload)
        return
    post_id = await session.scalar(select(Comment.post_id).where(Comment.id == target_id))
    if post_id is None:
        return
    _, _, public = await _post_facts(session, post_id)
    await append(
        session,
        f"comments:{post_id}",
        f"comment.{verb}",
        {
            "comment_id": target_id,
            "post_id": post_id,
            "user_id": user_id,
            "likes": count,
            "public": public,
        },
    )


async def follow_changed(
    session: AsyncSession, follower_id: int, followee_id: int, *, followed: bool
) -> None:
    """``follow.created|removed``, private to the one followed. Call it only when the edge
    actually changed: a repeated follow (or unfollow) that changes nothing emits nothing."""
    await append(
        session,
        f"me:{followee_id}",
        "follow.created" if followed else "follow.removed",
        {"follower_id": follower_id, "followee_id": followee_id},
    )


async def profile_changed(session: AsyncSession, user: User) -> None:
    """``profile.updated`` on ``user:<id>``, with the public fields only."""
    await append(
        session,
        f"user:{user.id}",
        "profile.updated",
        {
            "user_id": user.id,
            "username": user.username,
            "name": user.name,
            "bio": user.bio,
            "avatar_url": user.avatar_url,
        },
    )


def wallet_changed(session: AsyncSession, change: WalletChange) -> None:
    """``wallet.<kind>`` (transfer, hold, post, void, expire, reverse, payment, refund…),
    private to each user whose wallet moved; the client refetches its wallet."""
    for user_id in change.user_ids:
        stage(
            session,
            f"me:{user_id}",
            f"wallet.{change.kind}",
            {"kind": change.kind, "transfer_ids": list(change.transfer_ids)},
        )


async def jobs_changed(session: AsyncSession, job_ids: Iterable[int], status: str) -> None:
    """``job.<status>`` on the admins' ``jobs`` topic, one per job."""
    for job_id in job_ids:
        await append(session, "jobs", f"job.{status}", {"job_id": job_id, "status": status})
