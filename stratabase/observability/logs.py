"""Log lines as JSON (``STRATABASE_LOG_FORMAT=json``), each carrying the request id.

:class:`RequestIdFilter` stamps every record with ``request_id`` (and ``origin``): the
id of the request or job being served by the task that logged it, so a slow-query line,
an error and the request's access line can be found together.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from stratabase.observability import context

__all__ = ["TEXT_FORMAT", "JsonFormatter", "RequestIdFilter", "configure_logging"]

#: The text format: as before, with the request id when there is one.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"

#: Attributes every LogRecord has: anything else was passed in ``extra`` and is kept.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
    "origin",
}


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` and ``origin`` to every record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Stamp the record; never drops one."""
        current = context.current()
        record.request_id = "-" if current is None else current.request_id
        record.origin = None if current is None else current.origin
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id and request_id != "-":
            line["request_id"] = request_id
        origin = getattr(record, "origin", None)
        if origin:
            line["origin"] = origin
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(level: int, log_format: str = "text") -> None:
    """Log to stderr at ``level``: text lines, or JSON lines with ``log_format="json"``;
    either way with the request id."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "_stratabase", False)]
    handler._stratabase = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
