"""``account.export``: the JSON document of one account's own data, stored on its export row.

What it holds: the account (no password hash), its sessions (device, IP, user agent,
dates), posts, comments, likes, follows both ways, blocks and mutes it made, and its
wallets' balances. Dates are ISO 8601 strings. The document is written in one transaction
with the row's ``done`` status, so a reader sees either nothing or all of it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.types import utcnow
from stratabase.jobs.errors import PermanentJobError
from stratabase.jobs.registry import Registry, TaskContext, TaskResult, TaskSpec
from stratabase.models import (
    AccountExport,
    Block,
    Comment,
    Follow,
    LedgerAccount,
    Like,
    Mute,
    Post,
    User,
    UserSession,
)

TASK = "account.export"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def _rows(session: AsyncSession, *columns: Any, where: Any, order: Any) -> list[Any]:
    return list((await session.execute(select(*columns).where(where).order_by(order))).all())


async def build_document(session: AsyncSession, user: User) -> dict[str, Any]:
    """Everything stored about ``user`` that is theirs, as JSON-ready values."""
    uid = user.id
    sessions = await _rows(
        session,
        UserSession.id,
        UserSession.device,
        UserSession.ip,
        UserSession.user_agent,
        UserSession.created_at,
        UserSession.last_seen_at,
        UserSession.revoked_at,
        where=UserSession.user_id == uid,
        order=UserSession.id,
    )
    posts = await _rows(
        session,
        Post.id,
        Post.kind,
        Post.title,
        Post.slug,
        Post.summary,
        Post.content_blocks,
        Post.status,
        Post.created_at,
        Post.published_at,
        where=Post.author_id == uid,
        order=Post.id,
    )
    comments = await _rows(
        session,
        Comment.id,
        Comment.post_id,
        Comment.parent_id,
        Comment.body,
        Comment.created_at,
        where=Comment.author_id == uid,
        order=Comment.id,
    )
    likes = await _rows(
        session,
        Like.target_type,
        Like.target_id,
        Like.created_at,
        where=Like.user_id == uid,
        order=Like.created_at,
    )
    following = await _rows(
        session, Follow.followee_id, where=Follow.follower_id == uid, order=Follow.followee_id
    )
    followers = await _rows(
        session, Follow.follower_id, where=Follow.followee_id == uid, order=Follow.follower_id
    )
    blocks = await _rows(
        session, Block.blocked_id, where=Block.blocker_id == uid, order=Block.blocked_id
    )
    mutes = await _rows(session, Mute.muted_id, where=Mute.muter_id == uid, order=Mute.muted_id)
    wallets = await _rows(
        session,
        LedgerAccount.currency,
        LedgerAccount.balance,
        LedgerAccount.pending_debits,
        where=LedgerAccount.user_id == uid,
        order=LedgerAccount.currency,
    )
    return {
        "format": "stratabase.account-export/1",
        "generated_at": utcnow().isoformat(),
        "account": {
            "id": uid,
            "email": user.email,
            "username": user.username,
            "name": user.name,
            "bio": user.bio,
            "avatar_url": user.avatar_url,
            "timezone": user.timezone,
            "role": str(user.role),
            "status": str(user.status),
            "created_at": _iso(user.created_at),
        },
        "sessions": [
            {
                "id": s.id,
                "device": s.device,
                "ip": s.ip,
                "user_agent": s.user_agent,
                "created_at": _iso(s.created_at),
                "last_seen_at": _iso(s.last_seen_at),
                "revoked_at": _iso(s.revoked_at),
            }
            for s in sessions
        ],
        "posts": [
            {
                "id": p.id,
                "kind": str(p.kind),
                "title": p.title,
                "slug": p.slug,
                "summary": p.summary,
                "content_blocks": p.content_blocks,
                "status": str(p.status),
                "created_at": _iso(p.created_at),
                "published_at": _iso(p.published_at),
            }
            for p in posts
        ],
        "comments": [
            {
                "id": c.id,
                "post_id": c.post_id,
                "parent_id": c.parent_id,
                "body": c.body,
                "created_at": _iso(c.created_at),
            }
            for c in comments
        ],
        "likes": [
            {"target_type": str(x.target_type), "target_id": x.target_id, "at": _iso(x.created_at)}
            for x in likes
        ],
        "following": [row[0] for row in following],
        "followers": [row[0] for row in followers],
        "blocked": [row[0] for row in blocks],
        "muted": [row[0] for row in mutes],
        "wallets": [
            {"currency": w.currency, "balance": w.balance, "held": w.pending_debits}
            for w in wallets
        ],
    }


async def export(context: TaskContext, payload: dict[str, Any]) -> TaskResult:
    """Build and store the export named by ``payload["export_id"]``."""
    export_id = payload.get("export_id")
    if not isinstance(export_id, int):
        raise PermanentJobError("payload needs an integer export_id")

    async def work(session: AsyncSession) -> TaskResult:
        row = await session.get(AccountExport, export_id)
        if row is None:
            return {"missing": True}  # the account was deleted meanwhile
        if row.status == "done":
            return {"already_done": True}
        user = await session.get(User, row.user_id)
        if user is None:
            return {"missing": True}
        row.data = await build_document(session, user)
        row.status = "done"
        row.finished_at = utcnow()
        return {"export_id": export_id}

    return await context.db.transaction(work)


def register(registry: Registry, *, periodic: bool = True) -> None:
    """Add the export task to ``registry`` (it has no schedule)."""
    del periodic
    registry.add(TaskSpec(TASK, export, queue="default", max_attempts=3, timeout=600))


__all__ = ["TASK", "build_document", "export", "register"]
