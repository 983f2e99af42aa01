"""Pure ASGI middleware at the edge of the API: body size, HEAD, CORS, security headers.

Pure ASGI (no ``BaseHTTPMiddleware``) so that a body is counted as it streams in and a
response streams out untouched. Every refusal is RFC 9457 problem+json, like the rest.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stratabase.api.errors import problem
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
    answers a shared cache must never keep (tokens, anything asked for with credentials).
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

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # One pass over the raw list instead of a lookup per header: this runs on
                # every answer.
                raw: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
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
