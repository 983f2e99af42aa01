"""``/v1/changes/ws`` on both backends: the same events and resume rules as SSE, and topics
added or dropped on an open socket without a duplicate or a gap."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import httpx

from stratabase.api.app import create_app
from stratabase.db.session import Database
from stratabase.settings import Settings
from tests.acceptance.api_support import NO_LIMITS, Actor, Api
from tests.integration.changes_support import write

with warnings.catch_warnings():  # it asks for `httpx2`; the WebSocket part needs neither
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def _write(settings: Settings, topic: str, type: str, **payload: Any) -> None:
    """Commit one event from outside the server (another process, as far as it knows)."""

    async def run() -> None:
        db = Database(settings)
        try:
            await write(db, topic, type, **payload)
        finally:
            await db.dispose()

    asyncio.run(run())


def test_websocket_subscribe_resume_and_unsubscribe(settings: Settings) -> None:
    fast = settings.model_copy(update={"changes_poll_seconds": 0.05})
    _write(settings, "post:1", "post.created")
    app = create_app(fast, rate_limits=NO_LIMITS)
    with TestClient(app) as client, client.websocket_connect("/v1/changes/ws") as ws:
        ws.send_json({"action": "subscribe", "topics": ["posts"], "after": 0})
        assert ws.receive_json() == {"type": "subscribed", "topics": ["posts"], "after": 0}
        first = ws.receive_json()  # replayed from the outbox
        assert first["type"] == "post.created" and first["topic"] == "post:1"
        assert set(first) == {"id", "topic", "type", "payload", "created_at"}

        _write(settings, "comments:1", "comment.created")  # not subscribed yet
        _write(settings, "post:2", "post.updated")
        second = ws.receive_json()
        assert second["type"] == "post.updated" and second["id"] > first["id"]

        ws.send_json({"action": "subscribe", "topics": ["comments:1"]})
        subscribed = ws.receive_json()
        assert subscribed["topics"] == ["comments:1", "posts"]
        assert subscribed["after"] == second["id"]  # goes on from the last event sent
        _write(settings, "comments:1", "comment.edited")
        assert ws.receive_json()["type"] == "comment.edited"

        ws.send_json({"action": "unsubscribe", "topics": ["posts"]})
        assert ws.receive_json()["topics"] == ["comments:1"]
        _write(settings, "post:3", "post.archived")  # no longer wanted
        _write(settings, "comments:1", "comment.deleted")
        assert ws.receive_json()["type"] == "comment.deleted"

        ws.send_json({"action": "subscribe", "topics": ["jobs"]})
        refused = ws.receive_json()
        assert refused["type"] == "error" and refused["field"] == "topics"
        ws.send_json({"action": "subscribe", "topics": ["posts"], "after": -1})
        assert ws.receive_json()["field"] == "after"


def _users(settings: Settings, count: int) -> list[Actor]:
    """Users with live bearer tokens, made from outside the server."""

    async def run() -> list[Actor]:
        db = Database(settings)
        try:
            async with httpx.AsyncClient() as unused:
                api = Api(unused, db)
                return [await api.user() for _ in range(count)]
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_another_users_private_events_never_reach_a_socket(settings: Settings) -> None:
    """The WebSocket twin of the SSE privacy rule: on ``me`` (and every other topic) a
    socket gets its own user's private events, replayed or live, and nobody else's."""
    fast = settings.model_copy(update={"changes_poll_seconds": 0.05})
    alice, bob = _users(settings, 2)
    _write(settings, f"me:{alice.id}", "wallet.transfer", kind="transfer")
    _write(settings, f"me:{bob.id}", "follow.created", follower_id=alice.id)
    _write(settings, "post:1", "post.created", author_id=alice.id, public=False)  # a draft
    _write(settings, "post:2", "post.published", author_id=alice.id, public=True)
    app = create_app(fast, rate_limits=NO_LIMITS)
    with (
        TestClient(app) as client,
        client.websocket_connect("/v1/changes/ws", headers=bob.headers) as ws,
    ):
        ws.send_json({"action": "subscribe", "topics": ["me", "posts"], "after": 0})
        assert ws.receive_json()["type"] == "subscribed"
        replayed = [ws.receive_json(), ws.receive_json()]
        assert [(e["topic"], e["type"]) for e in replayed] == [
            ("me", "follow.created"),
            ("post:2", "post.published"),
        ]
        _write(settings, f"me:{alice.id}", "wallet.transfer", kind="transfer")  # not bob's
        _write(settings, "post:3", "post.created", author_id=alice.id, public=False)
        _write(settings, f"me:{bob.id}", "wallet.credit", kind="credit")
        live = ws.receive_json()  # alice's events, had they leaked, would come first
        assert (live["topic"], live["type"]) == ("me", "wallet.credit")
        assert live["id"] > replayed[-1]["id"]

        ws.send_json({"action": "subscribe", "topics": ["me"], "after": 0})
        again = ws.receive_json()
        assert again["type"] == "subscribed"
        # resubscribing from 0 replays bob's own, and still none of alice's
        mine = [ws.receive_json() for _ in range(3)]
        assert [e["type"] for e in mine] == ["follow.created", "post.published", "wallet.credit"]

    with (
        TestClient(app) as client,
        client.websocket_connect("/v1/changes/ws") as anonymous,
    ):
        anonymous.send_json({"action": "subscribe", "topics": ["me"]})
        refused = anonymous.receive_json()
        assert refused["type"] == "error" and refused["field"] == "topics"
