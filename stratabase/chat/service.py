"""Chat sessions and messages, and the daily token quota every message is charged to.

A session belongs to one user and (optionally) one project of that user's organization.
Appending a message charges ``tokens_in + tokens_out`` to the organization's row of
``token_usage_daily`` for today (UTC) — the aggregate, never the raw messages (seed 003's
cost-control pattern) — with one conditional UPDATE::

    UPDATE token_usage_daily SET tokens_in = tokens_in + :in, tokens_out = tokens_out + :out
     WHERE organization_id = :org AND date = :today
       AND tokens_in + tokens_out + :requested <= :quota

The check and the charge are one statement, so concurrent appends cannot overrun the
quota: PostgreSQL re-evaluates the WHERE of a waiting UPDATE against the row the first
writer committed; SQLite runs one writer at a time. No row updated means the quota does
not cover the message: :class:`~stratabase.exceptions.QuotaExceeded` (HTTP 402) carries
quota, used and requested, and the transaction (with the message) rolls back.
``usage.aggregate`` later recomputes the same row from the messages, to the same totals.

Who may read: the session's owner, and an admin of its organization (read only); anyone
else gets 404, as if the session did not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.analytics.access import home_organization, is_org_admin, organization_of
from stratabase.auth.principal import Principal
from stratabase.chat.keyset import id_page
from stratabase.chat.schemas import (
    ChatMessageCreate,
    ChatMessageRead,
    ChatSessionCreate,
    ChatSessionRead,
)
from stratabase.db import portable
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.exceptions import InvalidInput, NotFound, QuotaExceeded
from stratabase.models import ChatMessage, ChatSession, Organization, Project, TokenUsageDaily
from stratabase.pagination import CursorCodec, Page

__all__ = [
    "QuotaCheck",
    "append_message",
    "charge_tokens",
    "create_session",
    "get_session",
    "list_messages",
    "list_sessions",
]


@dataclass(frozen=True)
class QuotaCheck:
    """The organization's quota for today and what it has used, after a charge."""

    organization_id: int
    quota: int
    used: int


async def create_session(
    db: Database, principal: Principal, data: ChatSessionCreate
) -> ChatSessionRead:
    """A new session of the caller's, about a project of their organization if given."""
    principal.require_writer()

    async def work(session: AsyncSession) -> ChatSessionRead:
        org = await home_organization(session, principal)
        if data.project_id is not None:
            project_org = await session.scalar(
                select(Project.organization_id).where(Project.id == data.project_id)
            )
            if project_org != org:
                raise NotFound(f"project {data.project_id} does not exist", field="project_id")
        chat = ChatSession(user_id=principal.user_id, project_id=data.project_id, title=data.title)
        session.add(chat)
        await session.flush()
        return ChatSessionRead.model_validate(chat)

    return await db.transaction(work)


async def _readable(session: AsyncSession, principal: Principal, session_id: int) -> ChatSession:
    chat = await session.get(ChatSession, session_id)
    if chat is not None and chat.user_id != principal.user_id:
        org = await organization_of(session, chat.user_id)
        if org is None or not await is_org_admin(session, principal, org):
            chat = None
    if chat is None:
        raise NotFound(f"chat session {session_id} does not exist", field="session_id")
    return chat


async def get_session(db: Database, principal: Principal, session_id: int) -> ChatSessionRead:
    """A session its owner (or their organization's admin) may read."""
    async with db.session() as session:
        return ChatSessionRead.model_validate(await _readable(session, principal, session_id))


async def list_sessions(
    db: Database,
    principal: Principal,
    *,
    project_id: int | None,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[ChatSessionRead]:
    """The caller's sessions, newest first, optionally those about one project."""
    statement = select(ChatSession).where(ChatSession.user_id == principal.user_id)
    if project_id is not None:
        statement = statement.where(ChatSession.project_id == project_id)
    kind = f"chat-sessions:{principal.user_id}:{project_id}"
    async with db.session() as session:
        page = await id_page(
            session,
            statement,
            ChatSession.id,
            kind=kind,
            codec=codec,
            cursor=cursor,
            limit=limit,
            descending=True,
        )
    return Page([ChatSessionRead.model_validate(s) for s in page.items], page.next_cursor)


async def list_messages(
    db: Database,
    principal: Principal,
    session_id: int,
    *,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[ChatMessageRead]:
    """A session's messages, oldest first."""
    async with db.session() as session:
        await _readable(session, principal, session_id)
        page = await id_page(
            session,
            select(ChatMessage).where(ChatMessage.session_id == session_id),
            ChatMessage.id,
            kind=f"chat-messages:{session_id}",
            codec=codec,
            cursor=cursor,
            limit=limit,
            descending=False,
        )
    return Page([ChatMessageRead.model_validate(m) for m in page.items], page.next_cursor)


async def charge_tokens(
    session: AsyncSession, organization_id: int, tokens_in: int, tokens_out: int
) -> QuotaCheck:
    """Add the tokens to today's aggregate if the quota covers them, else QuotaExceeded.

    One conditional UPDATE is the check and the charge (see the module's docstring)."""
    quota = await session.scalar(
        select(Organization.token_quota).where(Organization.id == organization_id)
    )
    if quota is None:
        raise InvalidInput(
            f"organization {organization_id} does not exist", field="organization_id"
        )
    now = utcnow()
    today = now.date()
    requested = tokens_in + tokens_out
    await session.execute(
        portable.insert_or_ignore(
            session,
            TokenUsageDaily,
            {
                "organization_id": organization_id,
                "date": today,
                "tokens_in": 0,
                "tokens_out": 0,
                "cost_minor": 0,
                "updated_at": now,
            },
            on=[TokenUsageDaily.organization_id, TokenUsageDaily.date],
        )
    )
    row = TokenUsageDaily
    charged = await session.execute(
        update(row)
        .where(
            row.organization_id == organization_id,
            row.date == today,
            row.tokens_in + row.tokens_out + requested <= quota,
        )
        .values(
            tokens_in=row.tokens_in + tokens_in,
            tokens_out=row.tokens_out + tokens_out,
            updated_at=now,
        )
        .returning(row.tokens_in + row.tokens_out)
    )
    used = charged.scalar()
    if used is None:
        current = await session.scalar(
            select(row.tokens_in + row.tokens_out).where(
                row.organization_id == organization_id, row.date == today
            )
        )
        used_now = int(current or 0)
        raise QuotaExceeded(
            f"organization {organization_id} has used {used_now} of its {quota} tokens today;"
            f" this message needs {requested} more",
            quota=int(quota),
            used=used_now,
            requested=requested,
        )
    return QuotaCheck(organization_id, int(quota), int(used))


async def append_message(
    db: Database, principal: Principal, session_id: int, data: ChatMessageCreate
) -> ChatMessageRead:
    """Add a message to one of the caller's sessions, charged to their organization's
    daily quota; QuotaExceeded (402) with the numbers when the quota does not cover it."""
    principal.require_writer()

    async def work(session: AsyncSession) -> ChatMessageRead:
        chat = await session.get(ChatSession, session_id)
        if chat is None or chat.user_id != principal.user_id:
            raise NotFound(f"chat session {session_id} does not exist", field="session_id")
        org = await home_organization(session, principal)
        await charge_tokens(session, org, data.tokens_in, data.tokens_out)
        message = ChatMessage(
            session_id=session_id,
            role=data.role,
            content=data.content,
            tokens_in=data.tokens_in,
            tokens_out=data.tokens_out,
        )
        session.add(message)
        await session.execute(
            update(ChatSession).where(ChatSession.id == session_id).values(updated_at=utcnow())
        )
        await session.flush()
        return ChatMessageRead.model_validate(message)

    return await db.transaction(work)
