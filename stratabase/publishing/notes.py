"""Planning notes and agent memory: what steers a project's next episodes (seed 003).

Any member writes both. Open planning notes go into the next generation's brief, which
marks them applied (``episode.generate``); a note can also be resolved by hand (applied or
dismissed) and attached to the episode it is about.

Agent memory is typed entries per project, one per ``(kind, key)`` (an upsert replaces the
content); every entry goes into each brief, hence the limits in
:mod:`stratabase.publishing.inputs`: content ≤ 64 KB, at most
:data:`~stratabase.publishing.inputs.MAX_MEMORIES` entries per project (422 on ``key``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth.principal import Principal
from stratabase.db import portable
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import PlanningNoteStatus
from stratabase.exceptions import Conflict, InvalidInput, NotFound
from stratabase.models import AgentMemory, Episode, PlanningNote, PlanningNoteEpisode
from stratabase.pagination import CursorCodec, Page
from stratabase.publishing import queries
from stratabase.publishing.inputs import MAX_MEMORIES, NoteCreate
from stratabase.publishing.results import MemoryRead, NoteRead


async def create_note(
    db: Database, principal: Principal, project_id: int, body: NoteCreate
) -> NoteRead:
    """An open planning note by the caller; the next generation reads it."""
    principal.require_writer()

    async def work(session: AsyncSession) -> NoteRead:
        await queries.project(session, project_id, principal.user_id)
        row = PlanningNote(
            project_id=project_id,
            author_id=principal.user_id,
            body=body.body,
            status=PlanningNoteStatus.OPEN,
        )
        session.add(row)
        await session.flush()
        return queries.note_read(row, None)

    return await db.transaction(work)


async def list_notes(
    db: Database,
    principal: Principal,
    project_id: int,
    *,
    statuses: list[PlanningNoteStatus],
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[NoteRead]:
    """A project's planning notes (of ``statuses``, all if empty), newest first."""
    async with db.session() as session:
        await queries.project(session, project_id, principal.user_id)
        return await queries.note_page(
            session,
            project_id,
            statuses=[s.value for s in statuses],
            codec=codec,
            cursor=cursor,
            limit=limit,
        )


async def _note(session: AsyncSession, project_id: int, note_id: int) -> PlanningNote:
    row = await session.get(PlanningNote, note_id)
    if row is None or row.project_id != project_id:
        raise NotFound(f"planning note {note_id} does not exist", field="note_id")
    return row


async def _attached(session: AsyncSession, note_id: int) -> int | None:
    return await session.scalar(
        select(PlanningNoteEpisode.episode_id).where(PlanningNoteEpisode.note_id == note_id)
    )


async def resolve_note(
    db: Database, principal: Principal, project_id: int, note_id: int, resolution: str
) -> NoteRead:
    """Close an open note by hand (``applied`` or ``dismissed``); 409 if already closed."""
    principal.require_writer()

    async def work(session: AsyncSession) -> NoteRead:
        await queries.project(session, project_id, principal.user_id)
        row = await _note(session, project_id, note_id)
        if row.status != PlanningNoteStatus.OPEN:
            raise Conflict(f"this note is already {row.status}", field="note_id")
        row.status = PlanningNoteStatus(resolution)
        row.updated_at = utcnow()
        await session.flush()
        return queries.note_read(row, await _attached(session, note_id))

    return await db.transaction(work)


async def attach_note(
    db: Database, principal: Principal, project_id: int, note_id: int, episode_id: int
) -> NoteRead:
    """Attach a note to an episode of the same project (replacing an earlier attachment)."""
    principal.require_writer()

    async def work(session: AsyncSession) -> NoteRead:
        await queries.project(session, project_id, principal.user_id)
        row = await _note(session, project_id, note_id)
        episode = await session.get(Episode, episode_id)
        if episode is None or episode.project_id != project_id:
            raise NotFound(f"episode {episode_id} does not exist", field="episode_id")
        await session.execute(
            portable.upsert(
                session,
                PlanningNoteEpisode,
                {"note_id": note_id, "episode_id": episode_id, "created_at": utcnow()},
                on=[PlanningNoteEpisode.note_id],
                update=["episode_id", "created_at"],
            )
        )
        return queries.note_read(row, episode_id)

    return await db.transaction(work)


# --- agent memory -----------------------------------------------------------------------


async def list_memory(
    db: Database,
    principal: Principal,
    project_id: int,
    *,
    kind: str | None,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[MemoryRead]:
    """A project's agent memory by kind and key (one kind if given)."""
    async with db.session() as session:
        await queries.project(session, project_id, principal.user_id)
        return await queries.memory_page(
            session, project_id, kind=kind, codec=codec, cursor=cursor, limit=limit
        )


def _entry(project_id: int, kind: str, key: str) -> Any:
    return (
        AgentMemory.project_id == project_id,
        AgentMemory.kind == kind,
        AgentMemory.key == key,
    )


async def _memory(session: AsyncSession, project_id: int, kind: str, key: str) -> AgentMemory:
    row = await _find_memory(session, project_id, kind, key)
    if row is None:
        raise NotFound(f"no {kind} memory has the key {key!r}", field="key")
    return row


async def _find_memory(
    session: AsyncSession, project_id: int, kind: str, key: str
) -> AgentMemory | None:
    statement = select(AgentMemory).where(*_entry(project_id, kind, key))
    return (await session.execute(statement)).scalar_one_or_none()


async def get_memory(
    db: Database, principal: Principal, project_id: int, kind: str, key: str
) -> MemoryRead:
    """One agent memory entry."""
    async with db.session() as session:
        await queries.project(session, project_id, principal.user_id)
        return queries.memory_read(await _memory(session, project_id, kind, key))


async def put_memory(
    db: Database,
    principal: Principal,
    project_id: int,
    kind: str,
    key: str,
    content: dict[str, object],
) -> tuple[MemoryRead, bool]:
    """Create or replace the entry ``(kind, key)``; True when it was created. A new entry
    past the project's limit is refused (422 on ``key``)."""
    principal.require_writer()

    async def work(session: AsyncSession) -> tuple[MemoryRead, bool]:
        project = await queries.project(session, project_id, principal.user_id)
        existing = await _find_memory(session, project_id, kind, key)
        if existing is not None:
            existing.content = dict(content)
            existing.updated_at = utcnow()
            await session.flush()
            return queries.memory_read(existing), False
        count = await session.scalar(
            select(func.count()).where(AgentMemory.project_id == project.id)
        )
        if (count or 0) >= MAX_MEMORIES:
            raise InvalidInput(
                f"a project holds at most {MAX_MEMORIES} memory entries; delete some first",
                field="key",
            )
        now = utcnow()
        row = AgentMemory(
            project_id=project_id,
            kind=kind,
            key=key,
            content=dict(content),
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        await session.flush()
        return queries.memory_read(row), True

    return await db.transaction(work)


async def delete_memory(
    db: Database, principal: Principal, project_id: int, kind: str, key: str
) -> None:
    """Forget the entry ``(kind, key)``; 404 if there is none."""
    principal.require_writer()

    async def work(session: AsyncSession) -> None:
        await queries.project(session, project_id, principal.user_id)
        done = await session.execute(delete(AgentMemory).where(*_entry(project_id, kind, key)))
        if not getattr(done, "rowcount", 0):
            raise NotFound(f"no {kind} memory has the key {key!r}", field="key")

    await db.transaction(work)
