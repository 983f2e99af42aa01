"""Who is being served right now: the request id, the route (or job) and the user.

Context variables, set once at the edge (the HTTP middleware, the worker around a job)
and read wherever a log line, a slow-query record or an enqueued job wants them. Reading
one costs a dictionary lookup: safe on every SQL statement.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import MutableMapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

#: ``X-Request-ID`` values we accept as they are; anything else is replaced by our own.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


@dataclass(slots=True)
class RequestContext:
    """What one request (or job run) is: its id, origin (route template or ``job:<task>``)
    and the user it acts for, once known."""

    request_id: str
    origin: str | None = None
    user_id: int | None = None
    #: The ASGI scope of an HTTP request: routing adds the route that answers it.
    scope: MutableMapping[str, Any] | None = None
    #: The HTTP status answered (500 until a response starts).
    status: int = 500

    def where(self) -> str | None:
        """The origin given, else ``METHOD /route/{template}`` once routing chose a route."""
        if self.origin is not None:
            return self.origin
        scope = self.scope
        if scope is None:
            return None
        path = getattr(scope.get("route"), "path", None)
        return None if path is None else f"{scope.get('method', '')} {path}"


_current: ContextVar[RequestContext | None] = ContextVar("stratabase_request", default=None)


#: Ids are this process's random prefix and a counter: unique without a syscall per request.
_PREFIX = secrets.token_hex(5)
_sequence = itertools.count(1)


def new_request_id() -> str:
    """A fresh id: 16 hex digits, a random per-process prefix and a counter."""
    return f"{_PREFIX}{next(_sequence) & 0xFFFFFF:06x}"


def accept_request_id(given: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is a sane token (≤ 128 safe characters),
    else a fresh one: a header must not inject newlines or megabytes into our logs."""
    if given and _SAFE_ID.fullmatch(given):
        return given
    return new_request_id()


def current() -> RequestContext | None:
    """The request (or job) being served by this task, if any."""
    return _current.get()


def current_request_id() -> str | None:
    """The id of the request (or job) being served by this task, if any."""
    context = _current.get()
    return None if context is None else context.request_id


def bind(context: RequestContext) -> Token[RequestContext | None]:
    """Make ``context`` current for this task (and the tasks it starts); returns the token
    :func:`unbind` takes."""
    return _current.set(context)


def unbind(token: Token[RequestContext | None]) -> None:
    """Restore what was current before :func:`bind`."""
    _current.reset(token)


def set_user(user_id: int | None) -> None:
    """Record the authenticated user on the current request (no-op outside one)."""
    context = _current.get()
    if context is not None:
        context.user_id = user_id
