"""``POST /v1/events``: a batch of product events from a signed-in client."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from stratabase.analytics import ingest
from stratabase.analytics.registry import known_types
from stratabase.analytics.schemas import MAX_BATCH, EventsAccepted
from stratabase.api.deps import DatabaseDep, WriterUserDep
from stratabase.api.routes._router import public_router

router = public_router("/v1/events", "events")

#: The body as OpenAPI shows it; the route validates the raw bytes itself (one call of a
#: compiled validator built from the registry, see ``analytics/ingest.py``).
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["events"],
                    "additionalProperties": False,
                    "properties": {
                        "events": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_BATCH,
                            "items": {
                                "type": "object",
                                "required": ["type", "data"],
                                "additionalProperties": False,
                                "properties": {
                                    "type": {"type": "string", "enum": known_types()},
                                    "data": {"type": "object", "maxProperties": 20},
                                },
                            },
                        }
                    },
                }
            }
        },
    }
}


@router.post("", response_model=EventsAccepted, status_code=202, openapi_extra=_BODY)
async def post_events(
    request: Request, principal: WriterUserDep, db: DatabaseDep
) -> EventsAccepted:
    """Store up to 500 events at once (one INSERT), all or none. Each event's ``type``
    must be a known one and its ``data`` what that type requires; the first bad event is
    refused with 422 naming it (``events.<i>.type``, ``events.<i>.data.<key>``). Rate
    limited per user like every write (``STRATABASE_RATE_LIMIT_WRITE`` requests)."""
    body = await request.body()
    return EventsAccepted(accepted=await ingest.record_events(db, principal, body))
