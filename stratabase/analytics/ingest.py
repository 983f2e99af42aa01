"""``POST /v1/events``: validate a batch against the registry, store it in one INSERT.

Every event of a batch is checked before any is written; the first bad one is refused
with its index (``events.<i>.type`` for an unknown type, ``events.<i>.data.<key>`` for
bad data) and nothing is stored. A valid batch is one multi-row INSERT (SQLAlchemy's
"insertmanyvalues": one statement for up to 500 rows, on both backends), stamped with the
server's clock: a client cannot backdate events into days the aggregates already cover.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.analytics.registry import RESERVED, model_of
from stratabase.analytics.schemas import EventBatch
from stratabase.auth.principal import Principal
from stratabase.db.session import Database
from stratabase.db.types import utcnow
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
    rows = [
        {"user_id": principal.user_id, "event_type": kind, "event_data": data, "created_at": now}
        for kind, data in checked
    ]

    async def work(session: AsyncSession) -> int:
        await session.execute(insert(UserEvent), rows)
        return len(rows)

    return await db.transaction(work)
