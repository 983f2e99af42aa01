"""The SSE frame / JSON of an event is encoded once per fan-out (the memo travels with the
``Change`` instance the relay shares) and never shared by id across feeds."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from stratabase.api.routes.changes import change_json, sse_event
from stratabase.changes.outbox import Change

AT = datetime(2026, 12, 7, tzinfo=UTC)


def test_one_instance_is_encoded_once() -> None:
    change = Change(7, "me:5", "wallet.transfer", {"kind": "transfer"}, AT)
    frame = sse_event(change)
    assert sse_event(change) is frame  # every subscriber of this fan-out shares the bytes
    assert change_json(change) is change_json(change)
    assert frame.startswith(b"id: 7\nevent: wallet.transfer\ndata: ") and frame.endswith(b"\n\n")
    assert json.loads(change_json(change))["topic"] == "me"  # the private topic, rendered


def test_the_same_id_in_another_feed_is_encoded_afresh() -> None:
    ours = Change(7, "post:1", "post.created", {"post_id": 1}, AT)
    theirs = Change(7, "post:2", "post.created", {"post_id": 2}, AT)  # another root's id 7
    sse_event(ours)
    assert b'"post_id":2' in sse_event(theirs)
    assert ours == Change(7, "post:1", "post.created", {"post_id": 1}, AT)  # memo not compared
