"""Chat sessions and messages; a message is charged to the organization's daily quota."""

from __future__ import annotations

from typing import Any

from fastapi import Query

from stratabase.api.deps import CurrentUserDep, CursorsDep, DatabaseDep, WriterUserDep
from stratabase.api.routes._params import DEFAULT, Cursor, Limit, ObjectId
from stratabase.api.routes._router import api_router
from stratabase.api.schemas.common import V1_STATUSES, PageOut
from stratabase.chat import service
from stratabase.chat.schemas import (
    ChatMessageCreate,
    ChatMessageRead,
    ChatSessionCreate,
    ChatSessionRead,
)
from stratabase.pagination import Page
from stratabase.schemas.common import MAX_ID

router = api_router("/v1/chat", tag="chat", statuses=(*V1_STATUSES, 402))


def _page_out(page: Page[Any]) -> PageOut[Any]:
    return PageOut(items=page.items, next_cursor=page.next_cursor, has_more=page.has_more)


@router.post("/sessions", response_model=ChatSessionRead, status_code=201)
async def create_session(
    body: ChatSessionCreate, principal: WriterUserDep, db: DatabaseDep
) -> ChatSessionRead:
    """Start a conversation, optionally about a project of your organization (404 if the
    project is not one of it; 422 if you belong to no organization)."""
    return await service.create_session(db, principal, body)


@router.get("/sessions", response_model=PageOut[ChatSessionRead])
async def list_sessions(
    principal: CurrentUserDep,
    db: DatabaseDep,
    codec: CursorsDep,
    project_id: int | None = Query(default=None, ge=1, le=MAX_ID),
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> PageOut[Any]:
    """Your sessions, newest first (keyset pages), optionally those about one project."""
    page = await service.list_sessions(
        db, principal, project_id=project_id, codec=codec, cursor=cursor, limit=limit
    )
    return _page_out(page)


@router.get("/sessions/{session_id}", response_model=ChatSessionRead)
async def get_session(
    session_id: ObjectId, principal: CurrentUserDep, db: DatabaseDep
) -> ChatSessionRead:
    """One session: yours, or a member's if you administer their organization (else 404)."""
    return await service.get_session(db, principal, session_id)


@router.get("/sessions/{session_id}/messages", response_model=PageOut[ChatMessageRead])
async def list_messages(
    session_id: ObjectId,
    principal: CurrentUserDep,
    db: DatabaseDep,
    codec: CursorsDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> PageOut[Any]:
    """A session's messages, oldest first (keyset pages); who may read as for the session."""
    page = await service.list_messages(
        db, principal, session_id, codec=codec, cursor=cursor, limit=limit
    )
    return _page_out(page)


@router.post("/sessions/{session_id}/messages", response_model=ChatMessageRead, status_code=201)
async def append_message(
    session_id: ObjectId, body: ChatMessageCreate, principal: WriterUserDep, db: DatabaseDep
) -> ChatMessageRead:
    """Add a message to your session. Its ``tokens_in + tokens_out`` are charged to your
    organization's quota for today (UTC); 402 with ``quota``, ``used`` and ``requested``
    when the quota does not cover them (nothing is stored then)."""
    return await service.append_message(db, principal, session_id, body)
