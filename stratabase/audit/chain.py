"""Appending to the audit log as a hash chain, and checking the chain.

Each row carries ``prev_hash`` (the ``row_hash`` of the row before it, by id) and
``row_hash`` = SHA-256 of ``prev_hash`` and the row's canonical encoding (sorted-key
compact JSON of actor, action, resource, changes, ip, user agent, request id and the
creation time in microseconds, UTC). Editing a row breaks its own hash; deleting one breaks
the link of the next; inserting one breaks its own link or the next row's.

Appending is serialized so concurrent writers still form one chain: ``record`` only stages
the entry on the session; a ``before_commit`` hook (as the change outbox does) takes a
transaction-scoped advisory lock on PostgreSQL, reads the newest row's hash, inserts the
staged rows and the transaction commits, releasing the lock only once its rows are
visible. On SQLite a write transaction is ``BEGIN IMMEDIATE`` and holds the database's
write lock already. The lock is taken after the outbox's (this module imports it first, so
its hook is registered first in every process): the two never wait on each other in
opposite orders.

Rows written without a hash (the seed's, or any before migration 0015) are *unsealed*: they
may only precede the first sealed row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from stratabase.audit.context import current_request
from stratabase.changes import outbox  # noqa: F401  (its before_commit hook runs first)
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.models import AuditLog

__all__ = [
    "ADVISORY_LOCK_KEY",
    "GENESIS",
    "AuditEntry",
    "Break",
    "audit_after",
    "canonical",
    "find_break",
    "record",
    "row_hash",
]

#: The advisory lock serializing audit appends ("SBaudit!" as a signed bigint).
ADVISORY_LOCK_KEY = 0x5342_6175_6469_7421
#: ``prev_hash`` of the first sealed row.
GENESIS = "0" * 64

_STAGED = "stratabase_audit_staged"


@dataclass(frozen=True)
class AuditEntry:
    """One audit row as readers get it."""

    id: int
    actor_id: int | None
    action: str
    resource_type: str
    resource_id: str | None
    changes: dict[str, Any]
    ip: str | None
    user_agent: str | None
    request_id: str | None
    created_at: datetime
    prev_hash: str | None = None
    row_hash: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> AuditEntry:
        """From an ``audit_logs`` row (ORM object or result row)."""
        return cls(
            id=row.id,
            actor_id=row.actor_id,
            action=row.action,
            resource_type=row.resource_type,
            resource_id=row.resource_id,
            changes=dict(row.changes or {}),
            ip=row.ip,
            user_agent=row.user_agent,
            request_id=row.request_id,
            created_at=_utc(row.created_at),
            prev_hash=row.prev_hash,
            row_hash=row.row_hash,
        )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _json_safe(changes: dict[str, Any] | None) -> dict[str, Any]:
    """``changes`` as the database will hand it back (JSON types only)."""
    safe: dict[str, Any] = json.loads(json.dumps(changes or {}, default=str))
    return safe


def canonical(values: dict[str, Any]) -> bytes:
    """The canonical encoding of an entry's hashed fields (``values`` as stored)."""
    created = _utc(values["created_at"]).isoformat(timespec="microseconds")
    body = [
        values.get("actor_id"),
        values["action"],
        values["resource_type"],
        values.get("resource_id"),
        values.get("changes") or {},
        values.get("ip"),
        values.get("user_agent"),
        values.get("request_id"),
        created,
    ]
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def row_hash(prev_hash: str, values: dict[str, Any]) -> str:
    """SHA-256 (hex) of ``prev_hash`` and the canonical encoding of ``values``."""
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(values)).hexdigest()


def record(
    session: AsyncSession,
    actor_id: int | None,
    action: str,
    resource_type: str,
    resource_id: int | str | None = None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Stage one audit entry on ``session``: appended to the chain iff the transaction
    commits, with the current request's ip, user agent and id (``audit.context``).

    ``changes`` is ``{"field": [before, after]}`` (or any JSON object); no I/O here."""
    request = current_request()
    staged: list[dict[str, Any]] = session.info.setdefault(_STAGED, [])
    staged.append(
        {
            "actor_id": actor_id,
            "action": action[:100],
            "resource_type": resource_type[:50],
            "resource_id": None if resource_id is None else str(resource_id)[:64],
            "changes": _json_safe(changes),
            "ip": request.ip[:45] if request.ip else None,
            "user_agent": request.user_agent[:500] if request.user_agent else None,
            "request_id": request.request_id[:100] if request.request_id else None,
            "created_at": utcnow(),
        }
    )


async def audit_after(
    db: Database,
    actor_id: int | None,
    action: str,
    resource_type: str,
    resource_id: int | str | None = None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Append one entry in a transaction of its own (after a write whose transaction the
    caller does not hold, e.g. the ledger's batched path)."""

    async def work(session: AsyncSession) -> None:
        record(session, actor_id, action, resource_type, resource_id, changes)

    await db.transaction(work)


@event.listens_for(Session, "before_commit")
def _append_staged(session: Session) -> None:
    """Chain and insert the staged entries last, under the append lock."""
    staged: list[dict[str, Any]] | None = session.info.pop(_STAGED, None)
    if not staged:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    prev = session.execute(
        select(AuditLog.row_hash).order_by(AuditLog.id.desc()).limit(1)
    ).scalar_one_or_none()
    prev = prev or GENESIS
    for values in staged:
        values["prev_hash"] = prev
        values["row_hash"] = prev = row_hash(prev, values)
    session.execute(insert(AuditLog), staged)  # in list order: ids follow the chain


@event.listens_for(Session, "after_rollback")
def _drop_staged(session: Session) -> None:
    session.info.pop(_STAGED, None)


@dataclass(frozen=True)
class Break:
    """The first row where the chain does not hold, and why."""

    id: int
    reason: str


async def _rows(session: AsyncSession, batch: int) -> AsyncIterator[AuditEntry]:
    """Every row in id order, a batch per statement (plain rows: no ORM objects)."""
    columns = [column for column in AuditLog.__table__.c]
    last = 0
    while True:
        rows = (
            await session.execute(
                select(*columns).where(AuditLog.id > last).order_by(AuditLog.id).limit(batch)
            )
        ).all()
        if not rows:
            return
        for row in rows:
            yield AuditEntry.from_row(row)
        last = rows[-1].id


async def find_break(session: AsyncSession, *, batch: int = 1000) -> tuple[int, int, Break | None]:
    """Walk the chain in id order: (sealed rows checked, unsealed leading rows, first break)."""
    checked = unsealed = 0
    prev: str | None = None
    async for entry in _rows(session, batch):
        if entry.row_hash is None:
            if prev is not None:
                return checked, unsealed, Break(entry.id, "an unsealed row after sealed ones")
            unsealed += 1
            continue
        expected_prev = prev or GENESIS
        if entry.prev_hash != expected_prev:
            why = "the previous row was changed, removed or this row was inserted"
            return checked, unsealed, Break(entry.id, f"prev_hash does not link: {why}")
        values = {
            "actor_id": entry.actor_id,
            "action": entry.action,
            "resource_type": entry.resource_type,
            "resource_id": entry.resource_id,
            "changes": entry.changes,
            "ip": entry.ip,
            "user_agent": entry.user_agent,
            "request_id": entry.request_id,
            "created_at": entry.created_at,
        }
        if row_hash(expected_prev, values) != entry.row_hash:
            return checked, unsealed, Break(entry.id, "row_hash does not match: the row changed")
        prev = entry.row_hash
        checked += 1
    return checked, unsealed, None
