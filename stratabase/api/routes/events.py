"""``POST /v1/events``: a batch of product events from a signed-in client."""

from __future__ import annotations

from stratabase.analytics import ingest
from stratabase.analytics.registry import known_types
from stratabase.analytics.schemas import MAX_BATCH, EventBatch, EventsAccepted
from stratabase.api.deps import DatabaseDep, WriterUserDep
from stratabase.api.routes._router import public_router

router = public_router("/v1/events", "events")


@router.post("", response_model=EventsAccepted, status_code=202)
async def post_events(
    body: EventBatch, principal: WriterUserDep, db: DatabaseDep
) -> EventsAccepted:
    """Store up to 500 events at once (one INSERT), all or none. Each event's ``type``
    must be a known one and its ``data`` what that type requires; the first bad event is
    refused with 422 naming it (``events.<i>.type``, ``events.<i>.data.<key>``). Rate
    limited per user like every write (``STRATABASE_RATE_LIMIT_WRITE`` requests)."""
    return EventsAccepted(accepted=await ingest.record_events(db, principal, body))


post_events.__doc__ = (post_events.__doc__ or "") + (
    f"\n\nBatch size: at most {MAX_BATCH}. Types: {', '.join(known_types())}."
)
