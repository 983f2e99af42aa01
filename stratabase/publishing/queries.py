"""Reads of the publishing studio: who may see what, and keyset pages of each list.

Access is by membership (``organization_members``): a caller who is not a member of an
organization is told it does not exist (404), and so is everything under it; a member
whose role is too low for a write is refused (403).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.types import utcnow
from stratabase.enums import JobStatus, OrgRole
from stratabase.exceptions import NotFound, PermissionDenied
from stratabase.models import (
    AgentMemory,
    Episode,
    Job,
    Organization,
    OrganizationInvitation,
    OrganizationMember,
    PlanningNote,
    PlanningNoteEpisode,
    Project,
)
from stratabase.pagination import CursorCodec, CursorValue, Page, after
from stratabase.publishing.results import (
    EpisodeRead,
    InvitationRead,
    JobRef,
    MemoryRead,
    NoteRead,
    OrganizationRead,
    ProjectRead,
)

T = TypeVar("T")

#: Higher ranks may do what lower ones may.
_RANK = {OrgRole.MEMBER: 0, OrgRole.ADMIN: 1, OrgRole.OWNER: 2}
_ACTIVE_JOB = (JobStatus.QUEUED, JobStatus.RUNNING)


def generation_key(project_id: int, slot: Any) -> str:
    """The job queue's unique key of a slot's generation (the scheduler uses the same)."""
    return f"episode:{project_id}:{slot.isoformat()}"


async def role_of(session: AsyncSession, organization_id: int, user_id: int) -> OrgRole | None:
    """The user's role in the organization, None if not a member."""
    role = await session.scalar(
        select(OrganizationMember.role).where(
            OrganizationMember.organization_id == organization_id,
            OrganizationMember.user_id == user_id,
        )
    )
    return OrgRole(role) if role is not None else None


async def require_role(
    session: AsyncSession, organization_id: int, user_id: int, minimum: OrgRole
) -> OrgRole:
    """The caller's role if at least ``minimum``; NotFound for a non-member (the
    organization's existence is not disclosed), PermissionDenied for a lower role."""
    role = await role_of(session, organization_id, user_id)
    if role is None:
        raise NotFound(f"organization {organization_id} does not exist", field="organization_id")
    _require_rank(role, minimum)
    return role


def _require_rank(role: OrgRole, minimum: OrgRole) -> None:
    if _RANK[role] < _RANK[minimum]:
        raise PermissionDenied(f"this needs the {minimum.value} role in the organization")


async def organization(
    session: AsyncSession, organization_id: int, user_id: int
) -> OrganizationRead:
    """An organization the user belongs to, with their role."""
    role = await require_role(session, organization_id, user_id, OrgRole.MEMBER)
    org = await session.get(Organization, organization_id)
    assert org is not None  # a membership row keeps its organization (cascade)
    return _organization(org, role)


def _organization(org: Organization, role: OrgRole) -> OrganizationRead:
    return OrganizationRead(
        id=org.id,
        name=org.name,
        slug=org.slug,
        plan=org.plan,
        token_quota=org.token_quota,
        role=role,
        created_at=org.created_at,
    )


async def project(
    session: AsyncSession, project_id: int, user_id: int, minimum: OrgRole = OrgRole.MEMBER
) -> Project:
    """The project if the user's role in its organization is at least ``minimum``; a
    project of an organization they are not in does not exist for them."""
    found = await session.get(Project, project_id)
    role = None if found is None else await role_of(session, found.organization_id, user_id)
    if found is None or role is None:
        raise NotFound(f"project {project_id} does not exist", field="project_id")
    _require_rank(role, minimum)
    return found


def project_read(row: Project) -> ProjectRead:
    """The typed answer for a project row."""
    return ProjectRead(
        id=row.id,
        organization_id=row.organization_id,
        owner_id=row.owner_id,
        name=row.name,
        description=row.description,
        cadence=row.cadence_config or None,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def invitation_read(row: OrganizationInvitation) -> InvitationRead:
    """The typed answer for an invitation row (``expired`` computed now)."""
    return InvitationRead(
        id=row.id,
        organization_id=row.organization_id,
        email=row.email,
        role=row.role,
        status=row.status,
        expired=row.status == "pending" and row.expires_at <= utcnow(),
        invited_by=row.invited_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        responded_at=row.responded_at,
    )


async def keyset(
    session: AsyncSession,
    statement: Any,
    columns: Sequence[Any],
    *,
    codec: CursorCodec,
    kind: str,
    cursor: str | None,
    limit: int,
    descending: bool,
) -> tuple[list[Any], str | None]:
    """One page of ``statement`` ordered by ``columns`` (attributes of the first entity it
    selects), and the next page's cursor."""
    if cursor:
        values = codec.decode(kind, cursor, len(columns))
        statement = statement.where(after(columns, values, descending=descending))
    order = [c.desc() for c in columns] if descending else list(columns)
    rows = list((await session.execute(statement.order_by(*order).limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    if not (more and rows):
        return rows, None
    last: list[CursorValue] = [getattr(rows[-1][0], column.key) for column in columns]
    return rows, codec.encode(kind, last)


async def newest_of_organization(
    session: AsyncSession,
    model: Any,
    organization_id: int,
    *,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str | None]:
    """One page of an organization's rows of ``model`` (projects, invitations), newest
    first, and the next page's cursor."""
    rows, next_cursor = await keyset(
        session,
        select(model).where(model.organization_id == organization_id),
        [model.id],
        codec=codec,
        kind=f"{model.__tablename__}:{organization_id}",
        cursor=cursor,
        limit=limit,
        descending=True,
    )
    return [row[0] for row in rows], next_cursor


async def my_organizations(
    session: AsyncSession, user_id: int, *, codec: CursorCodec, cursor: str | None, limit: int
) -> Page[OrganizationRead]:
    """The organizations the user belongs to, by id."""
    statement = (
        select(Organization, OrganizationMember.role)
        .join(OrganizationMember, OrganizationMember.organization_id == Organization.id)
        .where(OrganizationMember.user_id == user_id)
    )
    rows, next_cursor = await keyset(
        session,
        statement,
        [Organization.id],
        codec=codec,
        kind=f"orgs:{user_id}",
        cursor=cursor,
        limit=limit,
        descending=False,
    )
    return Page([_organization(org, OrgRole(role)) for org, role in rows], next_cursor)


async def active_jobs(session: AsyncSession, episodes: Sequence[Episode]) -> dict[str, JobRef]:
    """The queued or running generation job of each episode, by unique key (one query,
    on the queue's partial unique index of active keys)."""
    keys = [generation_key(e.project_id, e.scheduled_for) for e in episodes if e.post_id is None]
    if not keys:
        return {}
    rows = (
        await session.execute(
            select(Job.unique_key, Job.id, Job.status, Job.run_at, Job.attempts).where(
                Job.unique_key.in_(keys), Job.status.in_(_ACTIVE_JOB)
            )
        )
    ).all()
    return {
        row.unique_key: JobRef(
            id=row.id, status=row.status, run_at=row.run_at, attempts=row.attempts
        )
        for row in rows
    }


def episode_read(
    row: Episode, job: JobRef | None, *, post: tuple[str, list[dict[str, Any]]] | None = None
) -> EpisodeRead:
    """The typed answer for an episode, its state derived from post, job and errors."""
    if row.post_id is not None:
        status = "published"
    elif job is not None:
        status = (
            "scheduled"
            if job.status == JobStatus.QUEUED and job.run_at > utcnow()
            else "generating"
        )
    elif row.generation_errors:
        status = "failed"
    else:
        status = "pending"
    return EpisodeRead(
        id=row.id,
        project_id=row.project_id,
        number=row.number,
        scheduled_for=row.scheduled_for,
        status=status,
        post_id=row.post_id,
        generation_attempts=row.generation_attempts,
        generation_errors=list(row.generation_errors or []),
        job=job,
        title=post[0] if post else None,
        content_blocks=post[1] if post else None,
        created_at=row.created_at,
    )


async def episode_page(
    session: AsyncSession, project_id: int, *, codec: CursorCodec, cursor: str | None, limit: int
) -> Page[EpisodeRead]:
    """A project's episodes, latest slot first."""
    rows, next_cursor = await keyset(
        session,
        select(Episode).where(Episode.project_id == project_id),
        [Episode.scheduled_for, Episode.id],
        codec=codec,
        kind=f"episodes:{project_id}",
        cursor=cursor,
        limit=limit,
        descending=True,
    )
    episodes = [row[0] for row in rows]
    jobs = await active_jobs(session, episodes)
    items = [
        episode_read(e, jobs.get(generation_key(e.project_id, e.scheduled_for))) for e in episodes
    ]
    return Page(items, next_cursor)


def note_read(row: PlanningNote, episode_id: int | None) -> NoteRead:
    """The typed answer for a planning note."""
    return NoteRead(
        id=row.id,
        project_id=row.project_id,
        author_id=row.author_id,
        body=row.body,
        status=row.status,
        episode_id=episode_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def note_page(
    session: AsyncSession,
    project_id: int,
    *,
    statuses: Sequence[str],
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[NoteRead]:
    """A project's planning notes of the given statuses, newest first."""
    statement = (
        select(PlanningNote, PlanningNoteEpisode.episode_id)
        .outerjoin(PlanningNoteEpisode, PlanningNoteEpisode.note_id == PlanningNote.id)
        .where(PlanningNote.project_id == project_id)
    )
    if statuses:
        statement = statement.where(PlanningNote.status.in_(list(statuses)))
    rows, next_cursor = await keyset(
        session,
        statement,
        [PlanningNote.id],
        codec=codec,
        kind=f"notes:{project_id}:{','.join(sorted(statuses))}",
        cursor=cursor,
        limit=limit,
        descending=True,
    )
    return Page([note_read(note, episode_id) for note, episode_id in rows], next_cursor)


def memory_read(row: AgentMemory) -> MemoryRead:
    """The typed answer for an agent memory entry."""
    return MemoryRead(
        project_id=row.project_id,
        kind=row.kind,
        key=row.key,
        content=row.content,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def memory_page(
    session: AsyncSession,
    project_id: int,
    *,
    kind: str | None,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[MemoryRead]:
    """A project's agent memory by kind then key (only ``kind`` if given)."""
    statement = select(AgentMemory).where(AgentMemory.project_id == project_id)
    if kind is not None:
        statement = statement.where(AgentMemory.kind == kind)
    rows, next_cursor = await keyset(
        session,
        statement,
        [AgentMemory.kind, AgentMemory.key],
        codec=codec,
        kind=f"memory:{project_id}:{kind or ''}",
        cursor=cursor,
        limit=limit,
        descending=False,
    )
    return Page([memory_read(row[0]) for row in rows], next_cursor)
