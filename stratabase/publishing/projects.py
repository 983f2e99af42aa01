"""Projects, their schedule, and their episodes' generation through the job queue.

Project settings (create, update, archive, pause, resume) and generation (which spends the
organization's quota) need the admin role; any member reads. An organization's plan
allows ``plan_limits.max_active_projects`` active projects ("limit projects, not
frequency", seed 003): creating or resuming one more is refused with 402 and the numbers
(``limit``, ``active``), counted under a lock on the organization's row.

Generation goes through the queue's ``episode.generate`` task, as the scheduler's does,
with the scheduler's unique key (``episode:<project>:<slot>``): asking twice for a slot,
or asking for a slot the scheduler already queued, finds the same job (brought forward to
run now) and the same episode. The task publishes the episode as a normal post through the
content service (feeds, search, caches) and marks the open planning notes applied.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth.principal import Principal
from stratabase.db import portable
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import JobStatus, OrgRole, ProjectStatus
from stratabase.exceptions import Conflict, InvalidInput, LimitExceeded, NotFound
from stratabase.jobs.service import enqueue_in
from stratabase.jobs.tasks.episodes import next_slot
from stratabase.models import Episode, Job, Organization, PlanLimit, Post, Project
from stratabase.pagination import CursorCodec, Page
from stratabase.publishing import queries
from stratabase.publishing.inputs import GenerateRequest, ProjectCreate, ProjectUpdate
from stratabase.publishing.results import (
    EpisodeRead,
    GenerationRead,
    ProjectRead,
    ScheduleRead,
    Slot,
)
from stratabase.schemas.jobs import JobCreate
from stratabase.schemas.publishing import CadenceConfig

#: Attempts of a generation asked for by hand (the scheduler's own jobs make as many).
GENERATION_ATTEMPTS = 4


async def _require_room(session: AsyncSession, organization_id: int) -> None:
    """Refuse (402) one more active project than the organization's plan allows."""
    plan = (
        await session.execute(
            select(Organization.plan).where(Organization.id == organization_id).with_for_update()
        )
    ).scalar_one()
    limit = await session.scalar(
        select(PlanLimit.max_active_projects).where(PlanLimit.plan == plan)
    )
    if limit is None:
        return
    active = int(
        await session.scalar(
            select(func.count()).where(
                Project.organization_id == organization_id,
                Project.status == ProjectStatus.ACTIVE,
            )
        )
        or 0
    )
    if active >= limit:
        raise LimitExceeded(
            f"the {plan} plan allows {limit} active projects and {active} are active;"
            " pause or archive one, or upgrade the plan",
            field="organization_id",
            limit=limit,
            active=active,
        )


async def create_project(db: Database, principal: Principal, body: ProjectCreate) -> ProjectRead:
    """A new active project owned by the caller (an admin of the organization)."""
    principal.require_writer()

    async def work(session: AsyncSession) -> ProjectRead:
        await queries.require_role(session, body.organization_id, principal.user_id, OrgRole.ADMIN)
        await _require_room(session, body.organization_id)
        row = Project(
            organization_id=body.organization_id,
            owner_id=principal.user_id,
            name=body.name,
            description=body.description,
            cadence_config=body.cadence.model_dump() if body.cadence else {},
            status=ProjectStatus.ACTIVE,
        )
        session.add(row)
        await session.flush()
        return queries.project_read(row)

    return await db.transaction(work)


async def get_project(db: Database, principal: Principal, project_id: int) -> ProjectRead:
    """A project of one of the caller's organizations."""
    async with db.session() as session:
        return queries.project_read(await queries.project(session, project_id, principal.user_id))


async def list_projects(
    db: Database,
    principal: Principal,
    organization_id: int,
    *,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[ProjectRead]:
    """An organization's projects, newest first."""
    async with db.session() as session:
        await queries.require_role(session, organization_id, principal.user_id, OrgRole.MEMBER)
        rows, next_cursor = await queries.newest_of_organization(
            session, Project, organization_id, codec=codec, cursor=cursor, limit=limit
        )
    return Page([queries.project_read(row) for row in rows], next_cursor)


async def update_project(
    db: Database, principal: Principal, project_id: int, body: ProjectUpdate
) -> ProjectRead:
    """Rename, describe or re-cadence a project (not an archived one: 409)."""
    principal.require_writer()
    changes = body.changes()

    async def work(session: AsyncSession) -> ProjectRead:
        row = await queries.project(session, project_id, principal.user_id, OrgRole.ADMIN)
        if row.status == ProjectStatus.ARCHIVED:
            raise Conflict("an archived project cannot change", field="project_id")
        if "name" in changes:
            row.name = changes["name"]
        if "description" in changes:
            row.description = changes["description"]
        if "cadence" in changes:
            row.cadence_config = changes["cadence"] or {}
        await session.flush()
        return queries.project_read(row)

    return await db.transaction(work)


#: What each status action does: the statuses it applies to, and the new one.
_ACTIONS: dict[str, tuple[tuple[ProjectStatus, ...], ProjectStatus]] = {
    "pause": ((ProjectStatus.ACTIVE, ProjectStatus.PAUSED), ProjectStatus.PAUSED),
    "resume": ((ProjectStatus.PAUSED, ProjectStatus.ACTIVE), ProjectStatus.ACTIVE),
    "archive": (tuple(ProjectStatus), ProjectStatus.ARCHIVED),
}


async def set_status(
    db: Database, principal: Principal, project_id: int, action: str
) -> ProjectRead:
    """``pause`` (no more scheduled episodes), ``resume`` (within the plan's limit: 402
    otherwise) or ``archive`` (final). Repeating an action changes nothing."""
    principal.require_writer()
    allowed, target = _ACTIONS[action]

    async def work(session: AsyncSession) -> ProjectRead:
        row = await queries.project(session, project_id, principal.user_id, OrgRole.ADMIN)
        if row.status not in allowed:
            raise Conflict(f"a project that is {row.status} cannot {action}", field="project_id")
        if row.status != target:
            if target == ProjectStatus.ACTIVE:
                await _require_room(session, row.organization_id)
            row.status = target
            await session.flush()
        return queries.project_read(row)

    return await db.transaction(work)


def _cadence(row: Project) -> CadenceConfig | None:
    try:
        return CadenceConfig.model_validate(row.cadence_config) if row.cadence_config else None
    except ValidationError:
        return None  # a cadence stored by hand that no longer validates schedules nothing


async def schedule(
    db: Database, principal: Principal, project_id: int, *, n: int, after: datetime | None
) -> ScheduleRead:
    """The next ``n`` slots after ``after`` (now by default), DST-correct as the scheduler
    computes them; none while the project is paused or archived or has no cadence."""
    async with db.session() as session:
        row = await queries.project(session, project_id, principal.user_id)
    cadence = _cadence(row)
    slots: list[Slot] = []
    if cadence is not None and row.status == ProjectStatus.ACTIVE:
        zone = ZoneInfo(cadence.timezone)
        moment = (after or utcnow()).astimezone(UTC)
        for _ in range(n):
            moment = next_slot(cadence, moment)
            slots.append(Slot(at=moment, local=moment.astimezone(zone)))
    return ScheduleRead(
        project_id=row.id,
        status=row.status,
        timezone=cadence.timezone if cadence else None,
        slots=slots,
    )


# --- episodes ---------------------------------------------------------------------------


async def list_episodes(
    db: Database,
    principal: Principal,
    project_id: int,
    *,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[EpisodeRead]:
    """A project's episodes, latest slot first, each with its state and attempts."""
    async with db.session() as session:
        await queries.project(session, project_id, principal.user_id)
        return await queries.episode_page(
            session, project_id, codec=codec, cursor=cursor, limit=limit
        )


async def _episode(session: AsyncSession, project_id: int, episode_id: int) -> Episode:
    row = await session.get(Episode, episode_id)
    if row is None or row.project_id != project_id:
        raise NotFound(f"episode {episode_id} does not exist", field="episode_id")
    return row


async def _episode_read(session: AsyncSession, row: Episode) -> EpisodeRead:
    jobs = await queries.active_jobs(session, [row])
    post = None
    if row.post_id is not None:
        found = (
            await session.execute(
                select(Post.title, Post.content_blocks).where(Post.id == row.post_id)
            )
        ).first()
        if found is not None:
            post = (found.title, list(found.content_blocks or []))
    job = jobs.get(queries.generation_key(row.project_id, row.scheduled_for))
    return queries.episode_read(row, job, post=post)


async def get_episode(
    db: Database, principal: Principal, project_id: int, episode_id: int
) -> EpisodeRead:
    """One episode with its content blocks (once published), attempts and errors."""
    async with db.session() as session:
        await queries.project(session, project_id, principal.user_id)
        return await _episode_read(session, await _episode(session, project_id, episode_id))


async def _ensure_generation(
    session: AsyncSession, project: Project, slot: datetime
) -> GenerationRead:
    """The slot's episode and a job to generate it now: the existing one if queued or
    running (brought forward), a new one otherwise, none once the episode is published."""
    values: dict[str, Any] = {
        "project_id": project.id,
        "scheduled_for": slot,
        "generation_attempts": 0,
    }
    await session.execute(
        portable.insert_or_ignore(
            session, Episode, values, on=[Episode.project_id, Episode.scheduled_for]
        )
    )
    episode = (
        await session.execute(
            select(Episode).where(Episode.project_id == project.id, Episode.scheduled_for == slot)
        )
    ).scalar_one()
    if episode.post_id is not None:
        return GenerationRead(
            episode=await _episode_read(session, episode), job_id=None, enqueued=False
        )
    key = queries.generation_key(project.id, slot)
    now = utcnow()
    job = await _active_job(session, key)
    enqueued = False
    if job is None:
        spec = JobCreate(
            queue="episodes",
            task="episode.generate",
            payload={"project_id": project.id, "scheduled_for": slot.isoformat()},
            run_at=now,
            max_attempts=GENERATION_ATTEMPTS,
            unique_key=key,
        )
        enqueued = bool(await enqueue_in(session, [spec]))
        job = await _active_job(session, key)
    elif job.status == JobStatus.QUEUED and job.run_at > now:
        job.run_at = now  # the scheduler's job (or a retry's backoff) runs now instead
    await session.flush()
    return GenerationRead(
        episode=await _episode_read(session, episode),
        job_id=job.id if job is not None else None,
        enqueued=enqueued,
    )


async def _active_job(session: AsyncSession, key: str) -> Job | None:
    return (
        await session.execute(
            select(Job).where(
                Job.unique_key == key, Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])
            )
        )
    ).scalar_one_or_none()


async def generate(
    db: Database, principal: Principal, project_id: int, body: GenerateRequest
) -> GenerationRead:
    """Generate a slot's episode now (by default the project's next cadence slot):
    idempotent per slot. Admins and the owner; not for an archived project (409)."""
    principal.require_writer()

    async def work(session: AsyncSession) -> GenerationRead:
        project = await queries.project(session, project_id, principal.user_id, OrgRole.ADMIN)
        if project.status == ProjectStatus.ARCHIVED:
            raise Conflict("an archived project generates nothing", field="project_id")
        if body.scheduled_for is not None:
            slot = body.scheduled_for.astimezone(UTC)
        else:
            cadence = _cadence(project)
            if cadence is None:
                raise InvalidInput(
                    "this project has no cadence: say which slot to generate",
                    field="scheduled_for",
                )
            slot = next_slot(cadence, utcnow())
        return await _ensure_generation(session, project, slot)

    return await db.transaction(work)


async def regenerate(
    db: Database, principal: Principal, project_id: int, episode_id: int
) -> GenerationRead:
    """Generate an episode that failed (or is waiting for a retry) again, now; 409 once it
    is published. Idempotent: a generation already queued or running is answered."""
    principal.require_writer()

    async def work(session: AsyncSession) -> GenerationRead:
        project = await queries.project(session, project_id, principal.user_id, OrgRole.ADMIN)
        if project.status == ProjectStatus.ARCHIVED:
            raise Conflict("an archived project generates nothing", field="project_id")
        episode = await _episode(session, project_id, episode_id)
        if episode.post_id is not None:
            raise Conflict("this episode is already published", field="episode_id")
        return await _ensure_generation(session, project, episode.scheduled_for)

    return await db.transaction(work)
