"""Projects, their schedule and episodes, planning notes and agent memory.

Everything here belongs to one organization, and a caller who is not a member of it is
told it does not exist (404). Project settings and generation need the admin role (403
for a member); planning notes and agent memory are any member's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Body, Path, Query, Response, status

from stratabase.api.deps import CurrentUserDep, CursorsDep, DatabaseDep, WriterUserDep
from stratabase.api.routes._params import DEFAULT, Cursor, Limit, ObjectId
from stratabase.api.routes._router import api_router
from stratabase.api.routes.organizations import page_out
from stratabase.api.schemas.common import V1_STATUSES, PageOut
from stratabase.enums import PlanningNoteStatus
from stratabase.exceptions import InvalidInput
from stratabase.publishing import notes, projects
from stratabase.publishing.inputs import (
    MAX_SLOTS,
    GenerateRequest,
    MemoryWrite,
    NoteAttach,
    NoteCreate,
    NoteResolve,
    ProjectCreate,
    ProjectUpdate,
)
from stratabase.publishing.results import (
    EpisodeRead,
    GenerationRead,
    MemoryRead,
    NoteRead,
    ProjectRead,
    ScheduleRead,
)
from stratabase.schemas.common import MAX_ID

#: 402: the plan's limit of active projects, with the numbers.
router = api_router("/v1/projects", tag="projects", statuses=(*V1_STATUSES, 402))

Kind = Annotated[str, Path(max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]
Key = Annotated[str, Path(max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")]


@router.post("", response_model=ProjectRead, status_code=201)
async def create_project(
    principal: WriterUserDep, db: DatabaseDep, body: ProjectCreate
) -> ProjectRead:
    """Create an active project in an organization (admins; 402 past the plan's limit of
    active projects, with ``limit`` and ``active``)."""
    return await projects.create_project(db, principal, body)


@router.get("", response_model=PageOut[ProjectRead])
async def list_projects(
    principal: CurrentUserDep,
    db: DatabaseDep,
    codec: CursorsDep,
    organization_id: Annotated[int, Query(ge=1, le=MAX_ID)],
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> PageOut[ProjectRead]:
    """An organization's projects, newest first."""
    page = await projects.list_projects(
        db, principal, organization_id, codec=codec, cursor=cursor, limit=limit
    )
    return page_out(page)


@router.get("/{project_id}", response_model=ProjectRead)
async def get_project(
    project_id: ObjectId, principal: CurrentUserDep, db: DatabaseDep
) -> ProjectRead:
    """One project."""
    return await projects.get_project(db, principal, project_id)


@router.patch("/{project_id}", response_model=ProjectRead)
async def update_project(
    project_id: ObjectId, principal: WriterUserDep, db: DatabaseDep, body: ProjectUpdate
) -> ProjectRead:
    """Change a project's name, description or cadence (admins)."""
    return await projects.update_project(db, principal, project_id, body)


def _status_route(action: str, doc: str) -> None:
    async def act(project_id: ObjectId, principal: WriterUserDep, db: DatabaseDep) -> ProjectRead:
        return await projects.set_status(db, principal, project_id, action)

    act.__doc__ = doc
    router.add_api_route(
        f"/{{project_id}}/{action}",
        act,
        methods=["POST"],
        response_model=ProjectRead,
        name=f"{action}_project",
    )


_status_route("pause", "Stop scheduling the project's episodes (admins).")
_status_route("resume", "Schedule the project's episodes again (admins; 402 past the limit).")
_status_route("archive", "Archive the project for good (admins).")


@router.get("/{project_id}/schedule", response_model=ScheduleRead)
async def schedule(
    project_id: ObjectId,
    principal: CurrentUserDep,
    db: DatabaseDep,
    n: Annotated[int, Query(ge=1, le=MAX_SLOTS)] = 5,
    after: Annotated[datetime | None, Query(description="aware; default now")] = None,
) -> ScheduleRead:
    """The next ``n`` slots of the project's cadence (UTC and local, DST-correct)."""
    if after is not None and after.utcoffset() is None:
        raise InvalidInput("after needs a time zone offset", field="after")
    return await projects.schedule(db, principal, project_id, n=n, after=after)


@router.get("/{project_id}/episodes", response_model=PageOut[EpisodeRead])
async def list_episodes(
    project_id: ObjectId,
    principal: CurrentUserDep,
    db: DatabaseDep,
    codec: CursorsDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> PageOut[EpisodeRead]:
    """The project's episodes, latest slot first, with state, attempts and errors."""
    page = await projects.list_episodes(
        db, principal, project_id, codec=codec, cursor=cursor, limit=limit
    )
    return page_out(page)


@router.post("/{project_id}/episodes:generate", response_model=GenerationRead, status_code=202)
async def generate(
    project_id: ObjectId,
    principal: WriterUserDep,
    db: DatabaseDep,
    body: Annotated[GenerateRequest | None, Body()] = None,
) -> GenerationRead:
    """Generate a slot's episode now through the job queue (admins); by default the next
    cadence slot. The same slot twice answers the same episode and job."""
    return await projects.generate(db, principal, project_id, body or GenerateRequest())


@router.get("/{project_id}/episodes/{episode_id}", response_model=EpisodeRead)
async def get_episode(
    project_id: ObjectId, episode_id: ObjectId, principal: CurrentUserDep, db: DatabaseDep
) -> EpisodeRead:
    """One episode with its content blocks (once published), attempts and errors."""
    return await projects.get_episode(db, principal, project_id, episode_id)


@router.post(
    "/{project_id}/episodes/{episode_id}/regenerate",
    response_model=GenerationRead,
    status_code=202,
)
async def regenerate(
    project_id: ObjectId, episode_id: ObjectId, principal: WriterUserDep, db: DatabaseDep
) -> GenerationRead:
    """Generate a failed episode again, now (admins; 409 once published)."""
    return await projects.regenerate(db, principal, project_id, episode_id)


@router.post("/{project_id}/notes", response_model=NoteRead, status_code=201)
async def create_note(
    project_id: ObjectId, principal: WriterUserDep, db: DatabaseDep, body: NoteCreate
) -> NoteRead:
    """Add an open planning note; the next generation reads it and marks it applied."""
    return await notes.create_note(db, principal, project_id, body)


@router.get("/{project_id}/notes", response_model=PageOut[NoteRead])
async def list_notes(
    project_id: ObjectId,
    principal: CurrentUserDep,
    db: DatabaseDep,
    codec: CursorsDep,
    status: Annotated[list[PlanningNoteStatus] | None, Query(max_length=3)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> PageOut[NoteRead]:
    """The project's planning notes, newest first (``status`` repeatable: open, applied,
    dismissed; all by default)."""
    page = await notes.list_notes(
        db, principal, project_id, statuses=status or [], codec=codec, cursor=cursor, limit=limit
    )
    return page_out(page)


@router.post("/{project_id}/notes/{note_id}/resolve", response_model=NoteRead)
async def resolve_note(
    project_id: ObjectId,
    note_id: ObjectId,
    principal: WriterUserDep,
    db: DatabaseDep,
    body: NoteResolve,
) -> NoteRead:
    """Close an open note by hand: applied or dismissed (409 if already closed)."""
    return await notes.resolve_note(db, principal, project_id, note_id, body.resolution)


@router.post("/{project_id}/notes/{note_id}/attach", response_model=NoteRead)
async def attach_note(
    project_id: ObjectId,
    note_id: ObjectId,
    principal: WriterUserDep,
    db: DatabaseDep,
    body: NoteAttach,
) -> NoteRead:
    """Attach the note to an episode of the same project."""
    return await notes.attach_note(db, principal, project_id, note_id, body.episode_id)


@router.get("/{project_id}/memory", response_model=PageOut[MemoryRead])
async def list_memory(
    project_id: ObjectId,
    principal: CurrentUserDep,
    db: DatabaseDep,
    codec: CursorsDep,
    kind: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z][a-z0-9_]*$")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> PageOut[MemoryRead]:
    """The project's agent memory by kind and key (one ``kind`` if given)."""
    page = await notes.list_memory(
        db, principal, project_id, kind=kind, codec=codec, cursor=cursor, limit=limit
    )
    return page_out(page)


@router.get("/{project_id}/memory/{kind}/{key}", response_model=MemoryRead)
async def get_memory(
    project_id: ObjectId, kind: Kind, key: Key, principal: CurrentUserDep, db: DatabaseDep
) -> MemoryRead:
    """One agent memory entry."""
    return await notes.get_memory(db, principal, project_id, kind, key)


@router.put(
    "/{project_id}/memory/{kind}/{key}",
    response_model=MemoryRead,
    responses={201: {"model": MemoryRead, "description": "a new entry (200: replaced)"}},
)
async def put_memory(
    project_id: ObjectId,
    kind: Kind,
    key: Key,
    principal: WriterUserDep,
    db: DatabaseDep,
    body: MemoryWrite,
    response: Response,
) -> MemoryRead:
    """Create (201) or replace (200) the entry: JSON content ≤ 64 KB (422 past it), at
    most 500 entries per project."""
    entry, created = await notes.put_memory(db, principal, project_id, kind, key, body.content)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return entry


@router.delete("/{project_id}/memory/{kind}/{key}", status_code=204)
async def delete_memory(
    project_id: ObjectId, kind: Kind, key: Key, principal: WriterUserDep, db: DatabaseDep
) -> Response:
    """Forget the entry (404 if there is none)."""
    await notes.delete_memory(db, principal, project_id, kind, key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
