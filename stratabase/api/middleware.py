"""Pure ASGI middleware at the edge of the API: request id and metrics, body size, HEAD,
CORS, security headers.

Pure ASGI (no ``BaseHTTPMiddleware``) so that a body is counted as it streams in and a
response streams out untouched. Every refusal is RFC 9457 problem+json, like the rest.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stratabase.api.errors import problem
from stratabase.observability import context, metrics, tracing
from stratabase.settings import Settings, split_list

#: Paths whose answers carry a fresh bearer token: never stored by a cache.
TOKEN_PATHS = ("/v1/auth/",)


class BodyTooLarge(HTTPException):
    """The request body passed the limit while it was being read (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"the request body exceeds {limit} bytes")


def _too_large(limit: int, path: str) -> Response:
    return problem(
        413,
        code="body-too-large",
        detail=f"the request body exceeds {limit} bytes",
        instance=path,
        headers={"Connection": "close"},
    )


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413, reading no more than the limit.

    A declared ``Content-Length`` over the limit is refused before the app runs; a chunked
    or under-declared body is counted chunk by chunk and the read that crosses the limit
    raises :class:`BodyTooLarge`, which the app's handlers (or this middleware, if the app
    let it through) turn into the 413.
    """

    def __init__(self, app: ASGIApp, limit: int, exempt: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.limit = limit
        #: Paths whose routes count their own (larger) bodies: media uploads.
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is None and "transfer-encoding" not in headers:
            # Neither header: the request has no body (RFC 9112 §6.3), nothing to count.
            await self.app(scope, receive, send)
            return
        if declared is not None:
            if not declared.strip().isdigit():
                response = problem(
                    400,
                    code="bad-content-length",
                    detail="Content-Length must be a non-negative integer",
                    instance=scope["path"],
                )
                await response(scope, receive, send)
                return
            if int(declared) > self.limit:
                await _too_large(self.limit, scope["path"])(scope, receive, send)
                return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await _too_large(self.limit, scope["path"])(scope, receive, send)


class HeadAsGet:
    """Answer ``HEAD`` on every ``GET`` route: run the GET, send its headers, drop the body.

    FastAPI's routes answer only the methods they declare, so without this a HEAD (what
    link checkers and monitors send) on any GET route is a 405.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] != "http.response.body":
                await send(message)
            elif not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class SecurityHeaders:
    """Headers every answer carries: no MIME sniffing, no framing, and ``no-store`` on
    answers a shared cache must never keep (tokens, anything asked for with credentials);
    inside :class:`Observe`, also ``X-Request-ID`` (and it notes the status for the metrics).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = scope["path"].startswith(TOKEN_PATHS) or any(
            name == b"authorization" for name, _ in scope["headers"]
        )

        current = context.current()  # set by Observe: the request id, the status

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # One pass over the raw list instead of a lookup per header: this runs on
                # every answer.
                raw: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
                if current is not None:
                    current.status = message["status"]
                    raw.append((b"x-request-id", current.request_id.encode("latin-1")))
                present = {name.lower() for name, _ in raw}
                if b"x-content-type-options" not in present:
                    raw.append((b"x-content-type-options", b"nosniff"))
                if b"x-frame-options" not in present:
                    raw.append((b"x-frame-options", b"DENY"))
                if private:
                    raw = [(n, v) for n, v in raw if n.lower() != b"cache-control"]
                    raw.append((b"cache-control", b"no-store"))
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, with_headers)


class ProblemCORS(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered as problem+json like any error."""

    def preflight_response(self, request_headers: Headers) -> Response:
        """Starlette's answer, but a refusal becomes problem+json keeping its CORS headers."""
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        refused = problem(
            response.status_code,
            code="cors-refused",
            detail=f"CORS preflight refused: {bytes(response.body).decode().lower()}",
        )
        for name, value in response.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                refused.headers[name] = value
        return refused


#: Headers a cross-origin script may read besides the CORS-safelisted ones.
EXPOSED_HEADERS: Iterable[str] = ("Retry-After", "Idempotent-Replayed", "Allow")


def cors_options(settings: Settings) -> dict[str, object] | None:
    """``ProblemCORS`` keyword arguments from the settings; None while CORS is off."""
    origins = split_list(settings.cors_origins)
    if not origins:
        return None
    return {
        "allow_origins": origins,
        "allow_methods": [method.upper() for method in split_list(settings.cors_methods)],
        "allow_headers": split_list(settings.cors_headers),
        "allow_credentials": settings.cors_credentials,
        "expose_headers": list(EXPOSED_HEADERS),
    }


#: The post page the fast path answers below routing (``api/fast_path.py``): its template.
_POST_PAGE = re.compile(r"/v1/posts/[0-9]+")
POST_PAGE_ROUTE = "/v1/posts/{post_id}"
#: Label of a request no route matched (404s of unknown paths: unbounded, never a label).
UNMATCHED = "unmatched"


def route_template(scope: Scope) -> str:
    """The route template that answered (``/v1/posts/{post_id}``), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is not None:
        return str(path)
    if _POST_PAGE.fullmatch(scope.get("path", "")):
        return POST_PAGE_ROUTE
    return UNMATCHED


class Observe:
    """The outermost layer: a request id for every request (``X-Request-ID`` taken when sane,
    else made; returned in the response header; current while the request runs, for log
    lines, slow queries and jobs it enqueues) and one count + latency per route template,
    method and status (``observability/metrics.py``).

    Once per request, below nothing: the fast path's answers are counted too, and the cost
    is two clock reads, a context variable and a few additions (``metrics.observe_request``);
    the response header and the status are handled by :class:`SecurityHeaders`, just
    inside, which rewrites the response head anyway.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value.decode("latin-1")
                break
        current = context.RequestContext(context.accept_request_id(given), scope=scope)
        token = context.bind(current)
        started = time.perf_counter()
        try:
            # SecurityHeaders, just inside, adds the X-Request-ID header and notes the
            # status on ``current``: no send wrapper of our own, one await layer less.
            if tracing.enabled():
                await self._traced(scope, receive, send, current)
            else:
                await self.app(scope, receive, send)
        finally:
            elapsed = time.perf_counter() - started
            context.unbind(token)
            metrics.observe_request(route_template(scope), scope["method"], current.status, elapsed)

    async def _traced(
        self, scope: Scope, receive: Receive, send: Send, current: context.RequestContext
    ) -> None:
        """The request inside a span (``observability/tracing.py``)."""
        attributes = {"http.method": scope["method"], "http.target": scope["path"]}
        attributes["stratabase.request_id"] = current.request_id
        with tracing.span(f"HTTP {scope['method']}", attributes) as span:
            try:
                await self.app(scope, receive, send)
            finally:
                route = route_template(scope)
                span.update_name(f"HTTP {scope['method']} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.status_code", current.status)
