"""The transactional outbox: domain writes stage change events; the commit writes them.

``await append(session, topic, type, payload)`` only stages the event on the session. The
rows are inserted by a ``before_commit`` hook, as the last statements of the transaction, so
a write that rolls back (an error, a refused transfer, a retried conflict) emits nothing,
and a write that commits emits exactly its events.

Ordering (a reader that has seen id N never later finds a committed id < N it had not seen).
A sequence alone does not give this: transaction A takes id 5, B takes id 6 and commits
first, a reader sees 6, then A commits 5 behind it. We considered three fixes:

- a visibility watermark (``pg_snapshot_xmin`` against a ``xid8`` column): needs a schema
  change, and every reader must compute the watermark and hold back behind the oldest
  open transaction, even one that writes no events;
- a relay that assigns a second, delivery sequence: a second write per event, and
  delivery waits for the relay;
- **commit-time sequencing** (chosen): on PostgreSQL the hook takes a transaction-scoped
  advisory lock, inserts the staged rows (their ids come from the sequence now) and the
  transaction commits at once. The lock is released only after the commit is visible
  (PostgreSQL ends the transaction in the proc array before it releases locks), so the next
  transaction takes its ids after every smaller id is visible. Readers need nothing
  special: ``WHERE id > :last ORDER BY id`` is exact. The lock is held only for one INSERT
  and the commit, and taken after every row lock of the transaction, so it cannot join a
  deadlock; transactions without events never take it. The cost is that commits of
  transactions *with* events are serialized (one fsync each, no group commit).

SQLite has one writer at a time (the database lock from the first write to the commit),
so ids are in commit order already. ``pg_notify`` in the same transaction wakes the relays
of other processes only once the commit is done (``changes/listener.py``); an after-commit
hook wakes this process's relay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, event, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from stratabase.db import portable
from stratabase.db.session import Database, after_commit, database_of
from stratabase.db.types import utcnow
from stratabase.models import ChangeEvent, SystemState

__all__ = [
    "ADVISORY_LOCK_KEY",
    "CHANNEL",
    "PRUNED_KEY",
    "Change",
    "append",
    "head",
    "prune",
    "pruned_through",
    "read_after",
    "read_new",
    "stage",
]

#: LISTEN/NOTIFY channel that wakes the relays (the payload is empty: the table is the truth).
CHANNEL = "stratabase_changes"
#: The advisory lock serializing outbox inserts at commit ("SBchange" as a signed bigint).
ADVISORY_LOCK_KEY = 0x5342_6368_616E_6765
#: ``system_state`` key: the largest id ``prune`` ever deleted (resume points at or below it
#: cannot be served any more).
PRUNED_KEY = "changes.pruned_through"

_STAGED = "stratabase_changes_staged"
_WAKE = "stratabase_changes_wake"


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change event, as readers get it.

    The relay hands one instance to every subscription of its process, so ``memo`` is a
    per-fan-out memo: a transport encodes the event once there (``api/routes/changes.py``)
    and every subscriber shares the bytes. It lives and dies with the instance; nothing is
    keyed by id across feeds (two roots on two databases share ids).
    """

    id: int
    topic: str
    type: str
    payload: dict[str, Any]
    created_at: datetime
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False, hash=False)

    @classmethod
    def from_row(cls, row: Any) -> Change:
        """A ``change_events`` row as a value (payload copied: nothing shares the row)."""
        return cls(row.id, row.topic, row.type, dict(row.payload or {}), row.created_at)


async def append(session: AsyncSession, topic: str, type: str, payload: dict[str, Any]) -> None:
    """Stage one event on ``session``; it is written only if the transaction commits."""
    stage(session, topic, type, payload)


def stage(session: AsyncSession, topic: str, type: str, payload: dict[str, Any]) -> None:
    """``append`` for synchronous code that holds the session (it does no I/O either)."""
    staged: list[dict[str, Any]] = session.info.setdefault(_STAGED, [])
    staged.append({"topic": topic, "type": type, "payload": payload, "created_at": utcnow()})
    if not session.info.get(_WAKE):
        session.info[_WAKE] = True
        db = database_of(session)
        if db is not None:
            after_commit(session, db.change_wakeups.wake)


@event.listens_for(Session, "before_commit")
def _write_staged(session: Session) -> None:
    """Insert the staged events last, under the ordering lock (see the module docstring)."""
    staged: list[dict[str, Any]] | None = session.info.pop(_STAGED, None)
    if not staged:
        return
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    session.execute(insert(ChangeEvent), staged)
    if postgres:
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


@event.listens_for(Session, "after_rollback")
def _drop_staged(session: Session) -> None:
    session.info.pop(_STAGED, None)
    session.info.pop(_WAKE, None)


async def read_after(
    session: AsyncSession, after: int, limit: int, *, through: int | None = None
) -> list[Change]:
    """Committed events with ``after < id (<= through)``, in id order."""
    query = select(ChangeEvent).where(ChangeEvent.id > after)
    if through is not None:
        query = query.where(ChangeEvent.id <= through)
    rows = await session.scalars(query.order_by(ChangeEvent.id).limit(limit))
    return [Change.from_row(row) for row in rows]


async def read_new(db: Database, after: int, limit: int) -> list[Change]:
    """``read_after`` for the relay: one autocommitted statement, one round trip (a
    session would add BEGIN and ROLLBACK, two more on the path of every wake-up)."""
    table = ChangeEvent.__table__
    query = select(table).where(table.c.id > after).order_by(table.c.id).limit(limit)
    async with db.engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        rows = (await connection.execute(query)).all()
    return [Change.from_row(row) for row in rows]


async def pruned_through(session: AsyncSession) -> int:
    """The largest id a prune removed: resume points at or below it get ``resync``."""
    value = await session.scalar(select(SystemState.value).where(SystemState.key == PRUNED_KEY))
    return int((value or {}).get("id", 0))


async def head(session: AsyncSession) -> int:
    """The largest id ever committed (kept across a prune that emptied the table)."""
    newest = await session.scalar(select(func.max(ChangeEvent.id)))
    return max(int(newest or 0), await pruned_through(session))


async def prune(
    session: AsyncSession, older_than: timedelta, *, now: datetime | None = None
) -> int:
    """Delete events older than the retention; remember how far, so stale resume points get
    ``resync`` instead of a silent gap. Returns how many were deleted."""
    cutoff = (now or utcnow()) - older_than
    newest_old = await session.scalar(
        select(func.max(ChangeEvent.id)).where(ChangeEvent.created_at < cutoff)
    )
    if newest_old is None:
        return 0
    result = await session.execute(delete(ChangeEvent).where(ChangeEvent.id <= newest_old))
    through = max(int(newest_old), await pruned_through(session))
    await session.execute(
        portable.upsert(
            session,
            SystemState,
            {"key": PRUNED_KEY, "value": {"id": through}, "updated_at": utcnow()},
            on=["key"],
            update=lambda new: {"value": new.value, "updated_at": new.updated_at},
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
