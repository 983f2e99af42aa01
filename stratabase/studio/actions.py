"""The studio's few write actions, each through its service and each audited.

Retry or cancel a job (:class:`~stratabase.jobs.service.JobService`, admins only), hide
a post (:func:`stratabase.content.service.set_status`, moderators), suspend a user
(:func:`stratabase.auth.service.set_user_status`; moderators may suspend ordinary users,
only admins may suspend moderators, no one an admin or themselves). The service owns the
rule and the transaction; an entry appended to the audit chain records who did what from
where (``action`` ``studio.<resource>.<verb>``): after the service's transaction for jobs
and posts, in the same transaction for a suspension (whose service also records
``user.status_changed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from stratabase import audit
from stratabase.app import Stratabase
from stratabase.auth import service as auth_service
from stratabase.auth.principal import Principal
from stratabase.content import service as content_service
from stratabase.enums import PostStatus, Role, UserStatus
from stratabase.exceptions import NotFound, PermissionDenied
from stratabase.models import User


@dataclass(frozen=True)
class ActionDone:
    """What an action did: the resource, the verb and the resource's new state."""

    resource: str
    id: int
    action: str
    state: dict[str, Any]


async def _audit(
    sb: Stratabase,
    actor: Principal,
    action: str,
    resource: str,
    resource_id: int,
    changes: dict[str, Any],
    ip: str | None,
) -> None:
    """Append ``studio.<resource>.<action>`` to the audit chain (the request's ip, user
    agent and id come from the audit context the app binds per request)."""
    del ip  # the audit context carries the client's address (api/routes/audit.py)
    await audit.audit_after(
        sb.db, actor.user_id, f"studio.{resource}.{action}", resource, resource_id, changes
    )


async def retry_job(sb: Stratabase, actor: Principal, job_id: int, ip: str | None) -> ActionDone:
    """Queue a dead, failed or cancelled job again (admins)."""
    job = await sb.jobs.retry_job(actor, job_id)
    await _audit(sb, actor, "retry", "job", job_id, {"status": job.status.value}, ip)
    return ActionDone("job", job_id, "retry", job.model_dump(mode="json"))


async def cancel_job(sb: Stratabase, actor: Principal, job_id: int, ip: str | None) -> ActionDone:
    """Cancel a queued or running job (admins)."""
    job = await sb.jobs.cancel_job(actor, job_id)
    await _audit(sb, actor, "cancel", "job", job_id, {"status": job.status.value}, ip)
    return ActionDone("job", job_id, "cancel", job.model_dump(mode="json"))


async def hide_post(sb: Stratabase, actor: Principal, post_id: int, ip: str | None) -> ActionDone:
    """Hide a post from everyone but its author (moderators)."""
    post = await content_service.set_status(sb.db, sb.cache, actor, post_id, PostStatus.HIDDEN)
    await _audit(sb, actor, "hide", "post", post_id, {"status": PostStatus.HIDDEN.value}, ip)
    return ActionDone("post", post_id, "hide", {"id": post_id, "status": post.get("status")})


async def suspend_user(
    sb: Stratabase, actor: Principal, user_id: int, ip: str | None
) -> ActionDone:
    """Suspend an account: it reads but cannot write (see the module for who may)."""
    if user_id == actor.user_id:
        raise PermissionDenied("you cannot suspend yourself", field="user_id")
    async with sb.db.session() as session:
        user = await session.get(User, user_id)
        if user is None:
            raise NotFound(f"user {user_id} does not exist", field="user_id")
        role, before = Role(user.role), UserStatus(user.status)
    if role == Role.ADMIN or (role == Role.MODERATOR and not actor.is_admin):
        raise PermissionDenied(f"a {role.value} cannot be suspended from here", field="user_id")
    changes = {"status": [before.value, UserStatus.SUSPENDED.value]}

    async def work(session: AsyncSession) -> None:
        # the status change and who made it from the studio commit together
        await auth_service.apply_user_status(session, sb.cache, user_id, UserStatus.SUSPENDED)
        audit.record(session, actor.user_id, "studio.user.suspend", "user", user_id, changes)

    await sb.db.transaction(work)
    return ActionDone("user", user_id, "suspend", {"id": user_id, "status": "suspended"})


__all__ = ["ActionDone", "cancel_job", "hide_post", "retry_job", "suspend_user"]
