"""Query monitor: every statement's count, time and outcome, from SQLAlchemy events.

It is how we prove query discipline: ``with monitor.count() as counter`` counts the
statements a block issues, so a test can assert a page costs a constant number of them.
Slow statements are logged normalised (literals replaced), with parameter values only at DEBUG.
Inside ``with bulk_work():`` (seeding, switching themes, rebuilding the search index) a
long statement is the expected cost of moving many rows, not a slow query: it is timed as
usual but neither counted as slow nor logged above DEBUG.
"""

from __future__ import annotations

import bisect
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.engine import Engine

logger = logging.getLogger("stratabase.db.queries")

#: Upper bounds (ms) of the latency histogram buckets; the last bucket is everything above.
HISTOGRAM_BOUNDS_MS = (1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0)

_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_NUMBER_LITERAL = re.compile(r"(?<![\w$])-?\d+(?:\.\d+)?\b")
_POSITIONAL = re.compile(r"\$\d+")
_IN_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")
_SPACE = re.compile(r"\s+")

#: Set inside ``bulk_work()``; SQLAlchemy runs the event hooks in the caller's context.
_in_bulk: ContextVar[bool] = ContextVar("stratabase_bulk_work", default=False)


#: Set inside ``internal()``: the monitor's own bookkeeping (the slow-query log's writes).
_internal: ContextVar[bool] = ContextVar("stratabase_monitor_internal", default=False)


@contextmanager
def internal() -> Iterator[None]:
    """Statements of the block are observability's own (writing the slow-query log): timed
    in the totals, but neither counted by ``count()`` blocks nor told to observers, so a
    background flush never shows up in a test's statement count or records itself."""
    token = _internal.set(True)
    try:
        yield
    finally:
        _internal.reset(token)


@contextmanager
def bulk_work() -> Iterator[None]:
    """Mark the block (this task and the tasks it starts) as bulk work: no slow-query noise."""
    token = _in_bulk.set(True)
    try:
        yield
    finally:
        _in_bulk.reset(token)


def normalise_sql(statement: str) -> str:
    """Collapse a statement to its shape: literals and placeholders become ``?``."""
    shape = _STRING_LITERAL.sub("?", statement)
    shape = _POSITIONAL.sub("?", shape)
    shape = _NUMBER_LITERAL.sub("?", shape)
    shape = _IN_LIST.sub("(?, …)", shape)
    return _SPACE.sub(" ", shape).strip()


class StatementObserver(Protocol):
    """Told about every statement (metrics, the slow-query log): installed from above the
    database layer (``stratabase.observability``), so this module imports neither."""

    def statement(self, statement: str, elapsed_ms: float, *, slow: bool) -> None:
        """One statement ran for ``elapsed_ms``; ``slow``: over the threshold, not bulk work."""

    def error(self) -> None:
        """One statement raised."""


@dataclass
class StatementCounter:
    """Statements issued while a ``monitor.count()`` block was open."""

    statements: int = 0
    sql: list[str] = field(default_factory=list)


@dataclass
class QueryStats:
    """Counts and timings of the statements seen since the last reset."""

    count: int = 0
    errors: int = 0
    slow: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0
    histogram: list[int] = field(default_factory=lambda: [0] * (len(HISTOGRAM_BOUNDS_MS) + 1))

    @property
    def avg_ms(self) -> float:
        """Mean statement time in milliseconds."""
        return self.total_ms / self.count if self.count else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The figures as ``/health/db`` shows them."""
        buckets = {
            f"le_{bound:g}ms": n
            for bound, n in zip(HISTOGRAM_BOUNDS_MS, self.histogram, strict=False)
        }
        buckets["gt_5000ms"] = self.histogram[-1]
        return {
            "count": self.count,
            "errors": self.errors,
            "slow": self.slow,
            "total_ms": round(self.total_ms, 3),
            "avg_ms": round(self.avg_ms, 3),
            "max_ms": round(self.max_ms, 3),
            "histogram": buckets,
        }


class QueryMonitor:
    """Listens on one engine; cheap enough to stay on in production."""

    def __init__(self, *, slow_ms: float, warn_ms: float, log_parameters: bool = False) -> None:
        self.slow_ms = slow_ms
        self.warn_ms = warn_ms
        self.log_parameters = log_parameters
        self.stats = QueryStats()
        self._counters: list[StatementCounter] = []
        #: Told about every statement; see :meth:`observe`.
        self.observers: list[StatementObserver] = []

    def observe(self, observer: StatementObserver) -> None:
        """Tell ``observer`` about every statement from now on (once per observer)."""
        if observer not in self.observers:
            self.observers.append(observer)

    def attach(self, engine: Engine) -> None:
        """Count and time every statement ``engine`` runs."""
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "handle_error", self._error)

    def reset(self) -> None:
        """Start counting from zero."""
        self.stats = QueryStats()

    @contextmanager
    def count(self) -> Iterator[StatementCounter]:
        """Count the statements issued (by any task of this process) inside the block."""
        counter = StatementCounter()
        self._counters.append(counter)
        try:
            yield counter
        finally:
            self._counters.remove(counter)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info.setdefault("stratabase_query_start", []).append(time.perf_counter())

    def _after(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        starts = conn.info.get("stratabase_query_start")
        elapsed_ms = (time.perf_counter() - starts.pop()) * 1000 if starts else 0.0
        bulk = _in_bulk.get()
        self._record(statement, elapsed_ms, bulk=bulk)
        if elapsed_ms >= self.warn_ms:
            self._log_slow(statement, parameters, elapsed_ms, bulk=bulk)

    def _error(self, context: Any) -> None:
        self.stats.errors += 1
        for observer in self.observers:
            observer.error()
        connection = context.connection
        starts = connection.info.get("stratabase_query_start") if connection is not None else None
        if starts:
            starts.pop()

    def _record(self, statement: str, elapsed_ms: float, *, bulk: bool = False) -> None:
        stats = self.stats
        stats.count += 1
        stats.total_ms += elapsed_ms
        stats.max_ms = max(stats.max_ms, elapsed_ms)
        stats.histogram[bisect.bisect_left(HISTOGRAM_BOUNDS_MS, elapsed_ms)] += 1
        if _internal.get():
            return
        slow = elapsed_ms >= self.slow_ms and not bulk
        if slow:
            stats.slow += 1
        for observer in self.observers:
            observer.statement(statement, elapsed_ms, slow=slow)
        for counter in self._counters:
            counter.statements += 1
            counter.sql.append(statement)

    def _log_slow(
        self, statement: str, parameters: Any, elapsed_ms: float, *, bulk: bool = False
    ) -> None:
        if bulk:
            level = logging.DEBUG
        else:
            level = logging.WARNING if elapsed_ms >= self.slow_ms else logging.INFO
        if self.log_parameters:
            logger.log(level, "slow query %.1f ms: %s params=%r", elapsed_ms, statement, parameters)
        else:
            logger.log(level, "slow query %.1f ms: %s", elapsed_ms, normalise_sql(statement))
