"""``/v1/changes/ws``: the change feed over a WebSocket, with subscribe/unsubscribe.

Same events and resume rules as the SSE stream (``changes.py``), as JSON text messages:

- server → client: an event ``{"id", "topic", "type", "payload", "created_at"}``;
  ``{"type": "resync", "reason", "after"}``; ``{"type": "subscribed", "topics", "after"}``
  after each (un)subscribe; ``{"type": "error", "detail", "field"}`` for a bad message.
- client → server: ``{"action": "subscribe", "topics": [...], "after": <id>?}`` and
  ``{"action": "unsubscribe", "topics": [...]}``.

Changing topics re-subscribes from the last event delivered (``after``), so an event is
never sent twice, and one of a newly added topic that committed meanwhile is not lost.
Authentication: ``Authorization: Bearer`` on the upgrade request (non-browser clients).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.routing import WebSocketRoute

from stratabase.api.routes.changes import change_json
from stratabase.app import Stratabase
from stratabase.auth import service as auth_service
from stratabase.auth.principal import Principal
from stratabase.changes import Resync, Subscription, Topics
from stratabase.exceptions import StratabaseError
from stratabase.schemas.common import MAX_ID

__all__ = ["router"]

router = APIRouter()

#: Close codes: policy violation (bad token), and "try again later" (server stopping).
CLOSE_UNAUTHORIZED = 1008
CLOSE_GOING_AWAY = 1001


async def _principal(sb: Stratabase, websocket: WebSocket) -> Principal | None:
    header = websocket.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "bearer" or not 0 < len(token.strip()) <= 256:
        raise PermissionError("expected 'Authorization: Bearer <token>'")
    principal = await auth_service.authenticate(sb.db, sb.cache, token.strip())
    if principal is None:
        raise PermissionError("the token is invalid, expired or revoked")
    return principal


def _after(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise ValueError("after: an integer from 0 to 2^63-1")
    return value


def _names(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(n, str) and len(n) <= 100 for n in value):
        raise ValueError("topics: a list of topic names")
    return value


async def changes_ws(websocket: WebSocket) -> None:
    """One socket: messages in, events out (see the module docstring)."""
    sb: Stratabase = websocket.app.state.stratabase
    try:
        principal = await _principal(sb, websocket)
    except PermissionError as exc:
        await websocket.close(CLOSE_UNAUTHORIZED, str(exc))
        return
    await websocket.accept()
    control: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def read() -> None:
        try:
            while True:
                message = await websocket.receive_json()
                await control.put(message if isinstance(message, dict) else {})
        except (WebSocketDisconnect, ValueError, RuntimeError):
            await control.put(None)

    reader = asyncio.create_task(read())
    try:
        await _serve(sb, websocket, principal, control)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


# A plain Starlette route: the app-wide FastAPI dependencies (the NUL guard) read an HTTP
# ``Request``, which a WebSocket is not; this route checks its own input.
router.routes.append(WebSocketRoute("/v1/changes/ws", changes_ws, name="changes_ws"))


async def _serve(
    sb: Stratabase,
    websocket: WebSocket,
    principal: Principal | None,
    control: asyncio.Queue[dict[str, Any] | None],
) -> None:
    names: set[str] = set()
    position: int | None = None
    while True:
        if not names:  # nothing subscribed: wait for a message
            message = await control.get()
            if message is None:
                return
            names, position = await _apply(websocket, principal, message, names, position)
            continue
        topics = Topics(frozenset(names), principal)  # validated by _apply
        async with sb.changes.subscribe(topics, after=position) as subscription:
            await websocket.send_json(
                {"type": "subscribed", "topics": sorted(names), "after": subscription.position}
            )
            while True:
                message = await _pump(websocket, subscription, control)
                if message is None:
                    return
                wanted, after = await _apply(
                    websocket, principal, message, names, subscription.position
                )
                if (wanted, after) != (names, subscription.position):
                    names, position = wanted, after
                    break  # re-subscribe from the last event sent (or the given `after`)


async def _pump(
    websocket: WebSocket,
    subscription: Subscription,
    control: asyncio.Queue[dict[str, Any] | None],
) -> dict[str, Any] | None:
    """Send events until a control message arrives (returned) or the socket ends (None)."""
    next_control = asyncio.ensure_future(control.get())
    try:
        while True:
            next_item = asyncio.ensure_future(subscription.next())
            await asyncio.wait({next_item, next_control}, return_when=asyncio.FIRST_COMPLETED)
            if not next_item.done():
                next_item.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await next_item
            if next_item.done() and not next_item.cancelled():
                item = next_item.result()
                if isinstance(item, Resync):
                    await websocket.send_json(
                        {"type": "resync", "reason": item.reason, "after": item.after}
                    )
                    if item.reason == "overflow":
                        await websocket.close(CLOSE_GOING_AWAY, "too slow: resume from after")
                        return None
                elif item is not None:
                    await websocket.send_text(change_json(item))  # encoded once per fan-out
                elif subscription.done:
                    await websocket.close(CLOSE_GOING_AWAY, "server stopping")
                    return None
            if next_control.done():
                return next_control.result()
    finally:
        if not next_control.done():
            next_control.cancel()


async def _apply(
    websocket: WebSocket,
    principal: Principal | None,
    message: dict[str, Any],
    names: set[str],
    position: int | None,
) -> tuple[set[str], int | None]:
    """The topics and resume point after ``message``; an error message if it is bad."""
    action = message.get("action")
    try:
        asked = _names(message.get("topics"))
        if action == "subscribe":
            wanted = names | set(asked)
            if "after" in message:
                position = _after(message["after"])
        elif action == "unsubscribe":
            wanted = names - set(asked)
        else:
            raise ValueError("action: 'subscribe' or 'unsubscribe'")
        if wanted:
            Topics.parse(sorted(wanted), principal)
    except StratabaseError as exc:
        await websocket.send_json({"type": "error", "detail": exc.message, "field": "topics"})
        return names, position
    except ValueError as exc:
        field, _, detail = str(exc).partition(": ")
        await websocket.send_json({"type": "error", "detail": detail or str(exc), "field": field})
        return names, position
    if not wanted:
        await websocket.send_json({"type": "subscribed", "topics": [], "after": position})
    return wanted, position
