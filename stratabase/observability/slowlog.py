"""The slow-query log: statements over ``STRATABASE_SLOW_QUERY_MS`` kept in ``query_logs``.

Bounded three ways, so a storm of slow statements can neither fill the disk nor slow the
requests that run them:

- **rate**: at most ``slow_query_log_rate`` records per second per process; the rest are
  counted (``stratabase_slow_queries_dropped_total``) and dropped;
- **memory**: records wait in a bounded buffer (``slow_query_log_buffer``) and are written
  off the request path, in batches, by a background task of the process;
- **retention**: ``maintenance.prune`` deletes records older than
  ``slow_query_log_retention_days``.

A record holds the normalised SQL (literals replaced, never parameter values), its
duration, where it came from (route template or ``job:<task>``), the user and request id.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.monitor import internal, normalise_sql
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.models import QueryLog
from stratabase.observability import context, metrics

__all__ = ["SlowQuery", "SlowQueryRecorder", "prune", "top_statements"]

logger = logging.getLogger("stratabase.observability.slowlog")

#: Longest statement text kept (normalised): enough to recognise it, bounded on disk.
MAX_SQL_CHARS = 4000
#: Records written per INSERT.
BATCH_SIZE = 200

#: Set while the recorder writes: its own INSERT is never recorded (even if slow).
_writing: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "stratabase_slowlog_writing", default=False
)


class SlowQueryRecorder:
    """Buffers slow statements (rate limited, bounded) and writes them in batches.

    Installed on a database's query monitor by :class:`~stratabase.observability.Observability`;
    ``statement`` runs inside SQLAlchemy's event hook, so it only appends to a deque.
    """

    def __init__(
        self,
        db: Database,
        *,
        max_per_second: int = 10,
        buffer_size: int = 1000,
        flush_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.max_per_second = max_per_second
        self.buffer_size = buffer_size
        self.flush_interval = flush_interval
        self.clock = clock
        self.buffer: deque[dict[str, Any]] = deque()
        self.recorded = 0
        self.dropped = 0
        self._second = 0
        self._in_second = 0
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False

    # -- the monitor's observer --------------------------------------------------------

    def statement(self, statement: str, elapsed_ms: float, *, slow: bool) -> None:
        """Keep ``statement`` if it was slow and the rate and buffer allow."""
        if not slow or _writing.get() or self._closed:
            return
        second = int(self.clock())
        if second != self._second:
            self._second, self._in_second = second, 0
        if self._in_second >= self.max_per_second or len(self.buffer) >= self.buffer_size:
            self.dropped += 1
            metrics.slow_query_dropped()
            return
        self._in_second += 1
        current = context.current()
        self.buffer.append(
            {
                "query": normalise_sql(statement)[:MAX_SQL_CHARS],
                "duration_ms": round(elapsed_ms, 3),
                "origin": None if current is None else (current.where() or "")[:200] or None,
                "request_id": None if current is None else current.request_id[:128],
                "user_id": None if current is None else current.user_id,
                "created_at": utcnow(),
            }
        )
        self._schedule()

    def error(self) -> None:
        """Errors are counted by the metrics, not logged here."""

    # -- writing -----------------------------------------------------------------------

    def _schedule(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (sync use): flush() writes them later
            return
        # A fresh context: the flusher belongs to no request.
        self._flusher = loop.create_task(self._flush_later(), context=contextvars.Context())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.flush_interval)
        await self.flush()

    async def flush(self) -> int:
        """Write every buffered record now, in batches; returns how many were written."""
        token = _writing.set(True)
        try:
            with internal():  # not counted, not observed (db/monitor.py)
                written = await self._write_all()
        finally:
            _writing.reset(token)
        if written:
            self.recorded += written
            metrics.slow_query_recorded(written)
        return written

    async def _write_all(self) -> int:
        written = 0
        while self.buffer:
            batch = [self.buffer.popleft() for _ in range(min(BATCH_SIZE, len(self.buffer)))]
            try:
                await self.db.transaction(functools.partial(_insert, rows=batch))
            except Exception as exc:  # the log must never break the app
                self.dropped += len(batch)
                metrics.slow_query_dropped(len(batch))
                logger.warning("slow-query log: %d records lost: %s", len(batch), exc)
                continue
            written += len(batch)
        return written

    async def close(self) -> None:
        """Write what is buffered and stop."""
        self._closed = True
        flusher, self._flusher = self._flusher, None
        if flusher is not None and not flusher.done():
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        await self.flush()


async def _insert(session: AsyncSession, *, rows: list[dict[str, Any]]) -> None:
    await session.execute(insert(QueryLog), rows)


async def prune(db: Database, *, older_than: timedelta, now: datetime | None = None) -> int:
    """Delete slow-query records older than the retention; returns how many."""
    cutoff = (now or utcnow()) - older_than

    async def work(session: AsyncSession) -> int:
        result = await session.execute(delete(QueryLog).where(QueryLog.created_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)

    return await db.transaction(work)


@dataclass(frozen=True)
class SlowQuery:
    """One statement shape of the slow-query log, with its totals."""

    query: str
    count: int
    total_ms: float
    mean_ms: float
    max_ms: float
    last_seen: datetime
    #: A route or job it came from (the most frequent is not tracked: any one of them).
    origin: str | None


async def top_statements(
    db: Database, *, since: datetime | None = None, top: int = 20
) -> list[SlowQuery]:
    """The slowest statement shapes since ``since``, ranked by total time."""
    total = func.sum(QueryLog.duration_ms)
    statement = (
        select(
            QueryLog.query,
            func.count(),
            total,
            func.max(QueryLog.duration_ms),
            func.max(QueryLog.created_at),
            func.max(QueryLog.origin),
        )
        .group_by(QueryLog.query)
        .order_by(total.desc())
        .limit(top)
    )
    if since is not None:
        statement = statement.where(QueryLog.created_at >= since)
    async with db.session() as session:
        rows = (await session.execute(statement)).all()
    return [
        SlowQuery(
            query=query,
            count=int(count),
            total_ms=round(float(total_ms), 3),
            mean_ms=round(float(total_ms) / int(count), 3),
            max_ms=round(float(max_ms), 3),
            last_seen=last_seen,
            origin=origin,
        )
        for query, count, total_ms, max_ms, last_seen, origin in rows
    ]
