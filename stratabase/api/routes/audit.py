"""The audit log over HTTP (admins): filtered keyset pages and a chain check; and the
app-wide dependency that records where each request comes from for audit entries."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import Query, Request
from pydantic import BaseModel

from stratabase.api.client_ip import client_ip
from stratabase.api.deps import AdminUserDep, CursorsDep, DatabaseDep
from stratabase.api.routes._params import DEFAULT, Cursor, Limit
from stratabase.api.routes._router import api_router
from stratabase.api.schemas.common import PageOut
from stratabase.audit import AuditEntry, RequestContext, bind_request
from stratabase.audit.service import AuditFilter, list_entries, verify

router = api_router("/v1/audit", tag="audit")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")


async def bind_audit_context(request: Request) -> None:
    """Bind the client's address, user agent and request id for audit entries written
    while this request is served (the id set by the middleware, else a well-formed
    ``X-Request-ID``)."""
    request_id = getattr(request.state, "request_id", None) or request.headers.get("x-request-id")
    if request_id is not None and not _REQUEST_ID.fullmatch(str(request_id)):
        request_id = None
    bind_request(
        RequestContext(
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            request_id=request_id,
        )
    )


class VerificationOut(BaseModel):
    """The chain check: rows checked, unsealed rows, and the first broken row if any."""

    ok: bool
    checked: int
    unsealed: int
    broken_id: int | None = None
    reason: str | None = None


@router.get("", response_model=PageOut[AuditEntry])
async def list_audit(
    admin: AdminUserDep,
    db: DatabaseDep,
    codec: CursorsDep,
    actor: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    action: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    resource_type: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    resource_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    since: datetime | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> PageOut[AuditEntry]:
    """Entries newest first, filtered by actor, action, resource and time (``since``)."""
    where = AuditFilter(actor, action, resource_type, resource_id, since)
    page = await list_entries(db, admin, where, codec=codec, cursor=cursor, limit=limit)
    return PageOut[AuditEntry](
        items=page.items, next_cursor=page.next_cursor, has_more=page.has_more
    )


@router.get("/verify", response_model=VerificationOut)
async def verify_chain(admin: AdminUserDep, db: DatabaseDep) -> VerificationOut:
    """Walk the hash chain (the whole table: an operator's check, not a hot path)."""
    report = await verify(db)
    broken = report.broken
    return VerificationOut(
        ok=report.ok,
        checked=report.checked,
        unsealed=report.unsealed,
        broken_id=broken.id if broken else None,
        reason=broken.reason if broken else None,
    )
