"""Reading the audit log (admins only) and verifying its hash chain.

Nothing here, nor anywhere else, updates or deletes an audit row; on PostgreSQL a trigger
(migration 0015) refuses it even to SQL typed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from stratabase.audit.chain import AuditEntry, Break, find_break
from stratabase.auth.principal import Principal
from stratabase.db.session import Database
from stratabase.exceptions import PermissionDenied
from stratabase.models import AuditLog
from stratabase.pagination import CursorCodec, Page, after

__all__ = ["AUDIT_CURSOR", "AuditFilter", "Verification", "list_entries", "verify"]

#: The kind signed into audit list cursors.
AUDIT_CURSOR = "audit"


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to list (every field optional)."""

    actor_id: int | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class Verification:
    """The outcome of walking the chain: rows checked, unsealed rows, the first break."""

    checked: int
    unsealed: int
    broken: Break | None

    @property
    def ok(self) -> bool:
        """True when no row breaks the chain."""
        return self.broken is None


async def list_entries(
    db: Database,
    principal: Principal,
    where: AuditFilter,
    *,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[AuditEntry]:
    """Entries newest first (by id), filtered; admins only."""
    if not principal.is_admin:
        raise PermissionDenied("administrators only")
    query = select(AuditLog)
    if where.actor_id is not None:
        query = query.where(AuditLog.actor_id == where.actor_id)
    if where.action is not None:
        query = query.where(AuditLog.action == where.action)
    if where.resource_type is not None:
        query = query.where(AuditLog.resource_type == where.resource_type)
    if where.resource_id is not None:
        query = query.where(AuditLog.resource_id == where.resource_id)
    if where.since is not None:
        query = query.where(AuditLog.created_at >= where.since)
    if cursor is not None:
        (last,) = codec.decode(AUDIT_CURSOR, cursor, 1)
        query = query.where(after([AuditLog.id], [last], descending=True))
    async with db.session() as session:
        rows = (await session.scalars(query.order_by(AuditLog.id.desc()).limit(limit + 1))).all()
        items = [AuditEntry.from_row(row) for row in rows[:limit]]
    next_cursor = codec.encode(AUDIT_CURSOR, [items[-1].id]) if len(rows) > limit else None
    return Page(items, next_cursor)


async def verify(db: Database) -> Verification:
    """Walk the whole chain in id order; the first row that breaks it, if any."""
    async with db.session() as session:
        checked, unsealed, broken = await find_break(session)
    return Verification(checked, unsealed, broken)
