"""Observability: health, Prometheus metrics, the slow-query log, request ids, JSON logs.

It sits above the database and the cache (it reports on both), so neither imports it
except for the two leaf modules the hot paths need: :mod:`.context` (the request id) and
:mod:`.metrics` (counters). The rest is imported on first use::

    from stratabase.observability import Observability   # sb.observability is one

See docs/observability.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stratabase.observability.health import (
        check_cache,
        check_database,
        check_queue,
        check_ready,
        check_redis,
        collect_stats,
    )
    from stratabase.observability.logs import JsonFormatter, configure_logging
    from stratabase.observability.service import Observability
    from stratabase.observability.slowlog import SlowQuery, SlowQueryRecorder, top_statements

_LAZY = {
    "Observability": "service",
    "JsonFormatter": "logs",
    "configure_logging": "logs",
    "SlowQuery": "slowlog",
    "SlowQueryRecorder": "slowlog",
    "top_statements": "slowlog",
    "check_cache": "health",
    "check_database": "health",
    "check_queue": "health",
    "check_ready": "health",
    "check_redis": "health",
    "collect_stats": "health",
}

__all__ = [
    "JsonFormatter",
    "Observability",
    "SlowQuery",
    "SlowQueryRecorder",
    "check_cache",
    "check_database",
    "check_queue",
    "check_ready",
    "check_redis",
    "collect_stats",
    "configure_logging",
    "top_statements",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
