"""``POST /v1/events``: validate a batch against the registry, store it in one INSERT.

Every event of a batch is checked before any is written; the first bad one is refused
with its index (``events.<i>.type`` for an unknown type, ``events.<i>.data.<key>`` for
bad data) and nothing is stored. A valid batch is one INSERT: on PostgreSQL
``INSERT … SELECT … FROM jsonb_array_elements(:batch)`` (one prepared statement and one
parameter whatever the batch's size), on SQLite a multi-row VALUES; stamped with the
server's clock: a client cannot backdate events into days the aggregates already cover.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from sqlalchemy import bindparam, insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.analytics.registry import RESERVED, model_of
from stratabase.analytics.schemas import EventBatch
from stratabase.auth.principal import Principal
from stratabase.db.session import Database
from stratabase.db.types import UTCDateTime, utcnow
from stratabase.exceptions import InvalidInput
from stratabase.models import UserEvent


def validate_batch(batch: EventBatch) -> list[tuple[str, dict[str, Any]]]:
    """Each event's type and validated data, or InvalidInput naming the first bad event."""
    checked: list[tuple[str, dict[str, Any]]] = []
    for index, event in enumerate(batch.events):
        model = None if event.type in RESERVED else model_of(event.type)
        if model is None:
            raise InvalidInput(
                f"event {index}: unknown event type {event.type!r}", field=f"events.{index}.type"
            )
        try:
            data = model.model_validate(event.data)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise InvalidInput(
                f"event {index} ({event.type}): {where or 'data'}: {error['msg']}",
                field=f"events.{index}.data" + (f".{where}" if where else ""),
            ) from exc
        checked.append((event.type, data.model_dump(exclude_none=True)))
    return checked


async def record_events(db: Database, principal: Principal, batch: EventBatch) -> int:
    """Store the caller's batch (all or nothing); returns how many events were stored."""
    checked = validate_batch(batch)
    now = utcnow()

    async def work(session: AsyncSession) -> int:
        if session.get_bind().dialect.name == "postgresql":
            batch = json.dumps([[k, d] for k, d in checked], separators=(",", ":"))
            await session.execute(
                _FROM_JSON, {"user_id": principal.user_id, "now": now, "batch": batch}
            )
        else:
            rows = [
                {"user_id": principal.user_id, "event_type": k, "event_data": d, "created_at": now}
                for k, d in checked
            ]
            await session.execute(insert(UserEvent), rows)
        return len(checked)

    return await db.transaction(work)


#: PostgreSQL: the whole batch as one JSON array of ``[type, data]`` pairs (one
#: ``json.dumps``, one parameter), one prepared statement whatever the batch's size.
_FROM_JSON = text(
    """
    INSERT INTO user_events (user_id, event_type, event_data, created_at)
    SELECT CAST(:user_id AS bigint), e.v->>0, e.v->1, CAST(:now AS timestamptz)
      FROM jsonb_array_elements(CAST(:batch AS jsonb)) AS e(v)
    """
).bindparams(bindparam("now", type_=UTCDateTime()))
