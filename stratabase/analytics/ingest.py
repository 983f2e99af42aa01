"""``POST /v1/events``: validate a batch against the registry, store it in one INSERT.

The raw body is validated in one call of a pydantic ``TypeAdapter`` built from the registry
(a union of the event types, discriminated by ``type``; rebuilt when a type is declared),
and the validated batch is serialized back in one call — both in pydantic's compiled core,
not in a Python loop over the events. Every event is checked before any is written; the
first bad one is refused with its index (``events.<i>.type`` for an unknown type,
``events.<i>.data.<key>`` for bad data) and nothing is stored.

A valid batch is one INSERT: on PostgreSQL ``INSERT … SELECT … FROM
jsonb_array_elements(:batch)`` (one prepared statement and one parameter whatever the
batch's size), on SQLite a multi-row VALUES. Events are stamped with the server's clock: a
client cannot backdate them into days the aggregates already cover.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, create_model
from sqlalchemy import bindparam, insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.analytics import registry
from stratabase.analytics.schemas import MAX_BATCH
from stratabase.auth.principal import Principal
from stratabase.db.session import Database
from stratabase.db.types import UTCDateTime, utcnow
from stratabase.exceptions import InvalidInput
from stratabase.models import UserEvent

_adapter: tuple[int, TypeAdapter[Any]] | None = None


def _batch_adapter() -> TypeAdapter[Any]:
    """The batch validator for the registry as it is now (cached per registry version)."""
    global _adapter
    version = registry.version()
    if _adapter is None or _adapter[0] != version:
        variants = [
            create_model(
                f"Event_{name}",
                __config__=ConfigDict(extra="forbid"),
                type=(Literal[name], ...),  # type: ignore[arg-type]
                data=(model, ...),
            )
            for name, model in registry.items()
        ]
        event = Annotated[Union[tuple(variants)], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
        batch = create_model(
            "EventBatchIn",
            __config__=ConfigDict(extra="forbid"),
            events=(list[event], Field(min_length=1, max_length=MAX_BATCH)),  # type: ignore[valid-type]
        )
        _adapter = (version, TypeAdapter(batch))
    return _adapter[1]


def _refusal(exc: ValidationError) -> InvalidInput:
    error = exc.errors(include_url=False)[0]
    loc = [str(part) for part in error["loc"]]
    kind = error["type"]
    if kind == "json_invalid":
        return InvalidInput(f"the body is not valid JSON: {error['msg']}", field="body")
    if len(loc) >= 2 and loc[0] == "events" and loc[1].isdigit():
        index = loc[1]
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            tag = (error.get("ctx") or {}).get("tag", "")
            return InvalidInput(
                f"event {index}: unknown event type {tag!r}" if tag else f"event {index}: no type",
                field=f"events.{index}.type",
            )
        where = ".".join(loc[3:])  # events, <i>, <type>, data, <key>…
        return InvalidInput(
            f"event {index} ({loc[2] if len(loc) > 2 else '?'}): {where}: {error['msg']}",
            field=f"events.{index}.{where}" if where else f"events.{index}",
        )
    where = ".".join(loc) or "body"
    return InvalidInput(f"{where}: {error['msg']}", field=where)


def validate_batch(body: bytes | str | dict[str, Any]) -> Any:
    """The validated batch (``.events``: typed events), or InvalidInput naming the first
    bad event. ``body`` is the raw JSON, or an already parsed object."""
    adapter = _batch_adapter()
    try:
        if isinstance(body, dict):
            return adapter.validate_python(body)
        return adapter.validate_json(body)
    except ValidationError as exc:
        raise _refusal(exc) from exc


async def record_events(db: Database, principal: Principal, body: bytes | dict[str, Any]) -> int:
    """Store the caller's batch (all or nothing); returns how many events were stored."""
    adapter = _batch_adapter()
    batch = validate_batch(body)
    count = len(batch.events)
    now = utcnow()

    async def work(session: AsyncSession) -> int:
        if session.get_bind().dialect.name == "postgresql":
            payload = adapter.dump_json(batch, exclude_none=True).decode()
            await session.execute(
                _FROM_JSON, {"user_id": principal.user_id, "now": now, "batch": payload}
            )
        else:
            rows = [
                {
                    "user_id": principal.user_id,
                    "event_type": event["type"],
                    "event_data": event["data"],
                    "created_at": now,
                }
                for event in adapter.dump_python(batch, exclude_none=True)["events"]
            ]
            await session.execute(insert(UserEvent), rows)
        return count

    return await db.transaction(work)


#: PostgreSQL: the whole batch as one JSON document, one prepared statement whatever its size.
_FROM_JSON = text(
    """
    INSERT INTO user_events (user_id, event_type, event_data, created_at)
    SELECT CAST(:user_id AS bigint), e.v->>'type', e.v->'data', CAST(:now AS timestamptz)
      FROM jsonb_array_elements(CAST(:batch AS jsonb)->'events') AS e(v)
    """
).bindparams(bindparam("now", type_=UTCDateTime()))
