"""The slow statements this process saw, kept from the query monitor's own log lines.

The query monitor (:mod:`stratabase.db.monitor`) counts slow statements and logs each one
at WARNING on ``stratabase.db.queries``; :class:`SlowLog` is a logging handler on that
logger that keeps the last ones (normalised, never their parameters) and a per-shape
tally, bounded both ways, for the studio's overview.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from stratabase.db.monitor import logger as queries_logger
from stratabase.db.monitor import normalise_sql

#: Recent slow statements kept.
RECENT = 50
#: Distinct statement shapes tallied (the least recently seen is forgotten first).
SHAPES = 200
#: Longest statement text kept.
MAX_SQL = 2000


@dataclass
class Shape:
    """One normalised statement: how often it was slow, and how slow."""

    sql: str
    count: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0
    last_at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The JSON the overview shows."""
        return {
            "sql": self.sql,
            "count": self.count,
            "total_ms": round(self.total_ms, 1),
            "mean_ms": round(self.total_ms / self.count, 1) if self.count else 0.0,
            "max_ms": round(self.max_ms, 1),
            "last_at": self.last_at,
        }


class SlowLog(logging.Handler):
    """Keeps the slow statements logged by the query monitor (WARNING and above)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self.shapes: OrderedDict[str, Shape] = OrderedDict()

    def emit(self, record: logging.LogRecord) -> None:
        """Record one ``slow query %.1f ms: %s …`` line."""
        args = record.args
        if not isinstance(args, tuple) or len(args) < 2 or not isinstance(args[1], str):
            return
        elapsed_ms = args[0]
        if not isinstance(elapsed_ms, int | float):
            return
        sql = normalise_sql(args[1])[:MAX_SQL]  # parameters are never kept
        self.observe(sql, float(elapsed_ms), record.created)

    def observe(self, sql: str, elapsed_ms: float, at: float | None = None) -> None:
        """Count one slow statement of shape ``sql``."""
        at = time.time() if at is None else at
        self.recent.append({"at": at, "ms": round(elapsed_ms, 1), "sql": sql})
        shape = self.shapes.pop(sql, None) or Shape(sql)
        shape.count += 1
        shape.total_ms += elapsed_ms
        shape.max_ms = max(shape.max_ms, elapsed_ms)
        shape.last_at = at
        self.shapes[sql] = shape
        while len(self.shapes) > SHAPES:
            self.shapes.popitem(last=False)

    def top(self, n: int = 10) -> list[dict[str, Any]]:
        """The shapes with the most total time."""
        ranked = sorted(self.shapes.values(), key=lambda s: s.total_ms, reverse=True)
        return [shape.as_dict() for shape in ranked[:n]]


_installed: SlowLog | None = None


def slow_log() -> SlowLog:
    """The process's one handler, attached to the monitor's logger on first use."""
    global _installed
    if _installed is None:
        _installed = SlowLog()
        queries_logger.addHandler(_installed)
    return _installed


__all__ = ["SlowLog", "slow_log"]
