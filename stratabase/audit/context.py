"""Where the current request comes from (ip, user agent, request id), for audit entries.

The API binds it once per request (``api/routes/audit.py``: an app-wide dependency); the
services that record audit entries read it here, so none of them needs a new parameter.
Outside a request (CLI, jobs) it is empty.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

__all__ = ["RequestContext", "bind_request", "current_request"]


@dataclass(frozen=True)
class RequestContext:
    """The request's client address, user agent and id (each None when unknown)."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


_EMPTY = RequestContext()
_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar(
    "stratabase_audit_request", default=_EMPTY
)


def bind_request(context: RequestContext) -> None:
    """Make ``context`` the current request's (for the rest of this task)."""
    _current.set(context)


def current_request() -> RequestContext:
    """The current request's context (empty outside a request)."""
    return _current.get()
