"""Suspensions end by themselves: the periodic task is registered with the built-in ones
and, run as a worker runs it, lifts what is due (and only that), with audit entries."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.audit.service import verify
from stratabase.cache import memory_cache
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import UserStatus
from stratabase.jobs.queue import ClaimedJob
from stratabase.jobs.registry import TaskContext, builtin_registry
from stratabase.jobs.tasks.episodes import CACHE
from stratabase.models import AuditLog, User, UserSanction
from stratabase.models.trust import SanctionKind
from stratabase.moderation.tasks import LIFT_TASK


async def _suspended(db: Database, name: str, ends_in: timedelta | None) -> int:
    async def work(session: AsyncSession) -> int:
        user = User(email=f"{name}@example.com", username=name, name=name,
                    status=UserStatus.SUSPENDED)  # fmt: skip
        session.add(user)
        await session.flush()
        kind = SanctionKind.BAN if ends_in is None else SanctionKind.SUSPEND
        ends = None if ends_in is None else utcnow() + ends_in
        session.add(UserSanction(user_id=user.id, kind=kind, ends_at=ends))
        return user.id

    return await db.transaction(work)


async def test_the_periodic_task_lifts_due_suspensions_only(db: Database) -> None:
    registry = builtin_registry()
    assert LIFT_TASK in registry
    assert LIFT_TASK in [periodic.task for periodic in registry.periodic()]
    due = await _suspended(db, "due_one", timedelta(seconds=-1))
    later = await _suspended(db, "later_one", timedelta(hours=1))
    banned = await _suspended(db, "banned_one", None)
    job = ClaimedJob(id=1, queue="maintenance", task=LIFT_TASK, payload={}, attempts=1,
                     max_attempts=3)  # fmt: skip
    ctx = TaskContext(db=db, settings=db.settings, job=job, resources={CACHE: memory_cache()})
    result = await registry.get(LIFT_TASK).handler(ctx, {})
    assert result == {"lifted": 1}
    async with db.session() as session:
        statuses = dict((await session.execute(select(User.id, User.status))).all())
        actions = list(await session.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert statuses[due] == UserStatus.ACTIVE
    assert statuses[later] == statuses[banned] == UserStatus.SUSPENDED
    assert actions == ["user.status_changed", "moderation.suspension_ended"]
    assert (await registry.get(LIFT_TASK).handler(ctx, {})) == {"lifted": 0}
    assert (await verify(db)).ok
