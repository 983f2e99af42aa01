"""``GET /v1/changes``: the change feed as Server-Sent Events, or a long-poll JSON page.

Both are views of one ``Subscription`` (``changes/feed.py``), so they share the rules:
resume after ``Last-Event-ID`` / ``?after=`` exactly once and in order, ``resync`` when the
resume point was pruned or the client fell behind.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from stratabase.api.deps import OptionalUserDep, StratabaseDep
from stratabase.api.routes._router import api_router
from stratabase.app import Stratabase
from stratabase.auth.principal import Principal
from stratabase.changes import Change, Resync, Topics
from stratabase.changes.topics import MAX_TOPICS, SignInRequired, render
from stratabase.schemas.common import MAX_ID

http_router = api_router("/v1/changes", tag="changes")

#: Longest ``topics`` value: MAX_TOPICS names of up to 29 characters and their commas.
TOPICS_MAX_LENGTH = MAX_TOPICS * 30


class ChangeOut(BaseModel):
    """One event; the same object is the ``data:`` of an SSE event."""

    id: int
    topic: str
    type: str
    payload: dict[str, Any]
    created_at: datetime


class ChangePageOut(BaseModel):
    """A long-poll page: events in id order and where to resume."""

    events: list[ChangeOut]
    #: Pass as ``after`` next time.
    next_after: int
    #: ``retention`` or ``overflow`` when the client must refetch its state; else None.
    resync: str | None = None


def change_data(change: Change) -> dict[str, Any]:
    """The JSON every transport carries for one event (SSE ``data:``, WebSocket, long-poll)."""
    return {
        "id": change.id,
        "topic": render(change),
        "type": change.type,
        "payload": change.payload,
        "created_at": change.created_at.isoformat(),
    }


def change_json(change: Change) -> str:
    """``change_data`` as JSON text, encoded once per fan-out: the relay gives every
    subscriber of this process the same ``Change``, which keeps the text in its ``memo``.
    (Never memoized by id: two roots in one process, on two databases, share ids.)"""
    text: str | None = change.memo.get("json")
    if text is None:
        text = change.memo["json"] = json.dumps(change_data(change), separators=(",", ":"))
    return text


def sse_event(change: Change) -> bytes:
    """One SSE frame, encoded once per fan-out (see ``change_json``); its ``id:`` comes back
    as ``Last-Event-ID`` when a client reconnects."""
    frame: bytes | None = change.memo.get("sse")
    if frame is None:
        text = f"id: {change.id}\nevent: {change.type}\ndata: {change_json(change)}\n\n"
        frame = change.memo["sse"] = text.encode()
    return frame


def sse_resync(resync: Resync) -> str:
    """One ``event: resync`` frame: the client must refetch its state, then go on from ``after``."""
    data = json.dumps({"reason": resync.reason, "after": resync.after}, separators=(",", ":"))
    # After a pruned resume point the stream goes on from `after`: say so in `id:`, so a
    # reconnecting browser does not ask for the pruned point again. After an overflow the
    # last delivered id stays the right one to resume from.
    head = f"id: {resync.after}\n" if resync.reason == "retention" else ""
    return f"{head}event: resync\ndata: {data}\n\n"


def _topics(raw: str, principal: Principal | None) -> Topics:
    try:
        return Topics.parse(raw, principal)
    except SignInRequired as exc:
        raise HTTPException(
            401, detail=exc.message, headers={"WWW-Authenticate": "Bearer"}
        ) from exc


#: Most SSE frames written to a socket at once.
WRITE_BATCH = 64


async def _stream(sb: Stratabase, topics: Topics, after: int | None) -> AsyncIterator[bytes]:
    """The SSE body. Events already queued when the client's task runs (it fell behind
    the relay for a moment) go out in one write, not one write each."""
    heartbeat = sb.settings.changes_heartbeat_seconds
    async with sb.changes.subscribe(topics, after=after) as subscription:
        yield b": connected\n\n"
        while not subscription.done:
            item = await subscription.next(timeout=heartbeat)
            if item is None:
                if not subscription.done:
                    yield b": heartbeat\n\n"
                continue
            frames: list[bytes] = []
            while item is not None:
                if isinstance(item, Resync):
                    frames.append(sse_resync(item).encode())
                    if item.reason == "overflow":
                        yield b"".join(frames)
                        return
                else:
                    frames.append(sse_event(item))
                if len(frames) >= WRITE_BATCH:
                    break
                item = await subscription.next(timeout=0)  # only what is queued already
            yield b"".join(frames)


@http_router.get(
    "",
    response_model=ChangePageOut,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def changes(
    request: Request,
    sb: StratabaseDep,
    principal: OptionalUserDep,
    topics: Annotated[
        str,
        Query(
            min_length=1,
            max_length=TOPICS_MAX_LENGTH,
            description="comma-separated: posts, post:{id}, comments:{post_id}, "
            "category:{id}, user:{id}, me, trending, jobs (admins), moderation (moderators)",
        ),
    ],
    after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    wait: Annotated[float, Query(ge=0, le=3600, description="long-poll seconds")] = 0.0,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=20, pattern=r"^[0-9]{1,19}$")
    ] = None,
) -> Any:
    """Events of ``topics`` after ``after`` (or ``Last-Event-ID``), live: SSE by default,
    one JSON page with ``Accept: application/json`` (waiting up to ``wait`` s for one)."""
    chosen = _topics(topics, principal)
    resume = after
    if last_event_id is not None:
        resume = max(resume or 0, min(int(last_event_id), MAX_ID))
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "text/event-stream" not in accept:
        page = await sb.changes.page(
            chosen,
            after=resume,
            limit=limit,
            wait=min(wait, sb.settings.changes_max_wait_seconds),
        )
        return ChangePageOut(
            events=[ChangeOut(**change_data(c)) for c in page.events],
            next_after=page.next_after,
            resync=page.resync.reason if page.resync else None,
        )
    return StreamingResponse(
        _stream(sb, chosen, resume),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _routers() -> APIRouter:
    from stratabase.api.routes.changes_ws import router as ws_router

    combined = APIRouter()
    combined.include_router(http_router)
    combined.include_router(ws_router)
    return combined


#: ``GET /v1/changes`` (SSE, long-poll) and ``/v1/changes/ws`` (WebSocket).
router = _routers()

__all__ = ["ChangeOut", "ChangePageOut", "change_data", "change_json", "router"]
