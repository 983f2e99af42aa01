"""The only place errors become HTTP: RFC 9457 problem+json, never a traceback."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stratabase.api.methods import allowed_methods
from stratabase.cache.errors import CacheError
from stratabase.exceptions import (
    AlreadyExists,
    ConfigError,
    Conflict,
    ConstraintRefused,
    DatabaseUnavailable,
    InvalidInput,
    InvariantViolation,
    LimitExceeded,
    MigrationError,
    NotFound,
    PermissionDenied,
    SignInRequired,
    StratabaseError,
)
from stratabase.jobs.errors import JobError
from stratabase.media.errors import MediaTooLarge, UnsupportedMedia

logger = logging.getLogger("stratabase.api")

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://stratabase.dev/problems/"

_STATUS: list[tuple[type[StratabaseError], int]] = [
    (NotFound, 404),
    (AlreadyExists, 409),
    (Conflict, 409),
    (InvariantViolation, 409),
    (ConstraintRefused, 409),
    (MediaTooLarge, 413),
    (UnsupportedMedia, 415),
    (InvalidInput, 422),
    (PermissionDenied, 403),
    (SignInRequired, 401),
    # A plan limit or quota: the numbers travel in the problem's body.
    (LimitExceeded, 402),
    (DatabaseUnavailable, 503),
    # The cache refused or could not answer: a passing fault of a dependency, as for the DB.
    (CacheError, 503),
    # The server runs on a schema it does not know: the operator must migrate.
    (MigrationError, 503),
    # A job request that cannot be run as asked (unknown task, input a retry cannot fix).
    (JobError, 422),
    # A setting is missing or malformed: the server's fault, said as such.
    (ConfigError, 500),
]

#: What a client is told for errors whose message is for the operator (it names settings,
#: revisions or files); the message itself goes to the log.
_PUBLIC_DETAIL: list[tuple[type[StratabaseError], str]] = [
    (MigrationError, "the database is not migrated to this version of the server"),
    (ConfigError, "the server is misconfigured"),
]


def status_for(exc: StratabaseError) -> int:
    """The HTTP status of a domain error (the one table of them)."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def problem(
    status: int,
    *,
    code: str,
    detail: str,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An RFC 9457 problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update({key: value for key, value in extra.items() if value is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StratabaseError)
    status = status_for(exc)
    if status >= 500:
        logger.error("%s on %s: %s", type(exc).__name__, request.url.path, exc.message)
    public = next((text for cls, text in _PUBLIC_DETAIL if isinstance(exc, cls)), None)
    if public is not None:
        return problem(status, code=exc.code, detail=public, instance=request.url.path)
    errors = [{"field": exc.field, "message": exc.message}] if exc.field else None
    numbers: dict[str, Any] = dict(exc.numbers) if isinstance(exc, LimitExceeded) else {}
    return problem(
        status,
        code=exc.code,
        detail=exc.message,
        instance=request.url.path,
        errors=errors,
        **numbers,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    malformed = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
    if malformed is not None:
        # FastAPI reports the character position as the "field": there is no field yet.
        reason = (malformed.get("ctx") or {}).get("error", "invalid JSON")
        message = f"the body is not valid JSON: {reason} (character {malformed['loc'][-1]})"
        return problem(
            400,
            code="malformed-body",
            detail=message,
            instance=request.url.path,
            errors=[{"field": "body", "location": "body", "message": message}],
        )
    errors = [
        {
            "field": ".".join(str(part) for part in error["loc"] if part != "body")
            or (str(error["loc"][0]) if error["loc"] else "body"),
            "location": str(error["loc"][0]) if error["loc"] else "body",
            "message": error["msg"],
        }
        for error in exc.errors()
    ]
    first = errors[0] if errors else {"field": "", "message": "invalid request"}
    return problem(
        422,
        code="validation",
        detail=f"{first['field']}: {first['message']}" if first["field"] else first["message"],
        instance=request.url.path,
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-")
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
    return problem(
        exc.status_code,
        code=code,
        detail=str(exc.detail),
        instance=request.url.path,
        headers=headers or None,
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, code="internal", detail="internal error", instance=request.url.path)


class CatchUnexpected:
    """Answer an unhandled exception with a 500 problem *inside* the app.

    A handler registered for ``Exception`` runs in Starlette's outermost middleware, which
    sends the response and then re-raises, so uvicorn drops the keep-alive connection and
    the client's next request on it fails. Caught here, the exception is logged once (with
    its traceback, server-side only) and the connection stays open.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # too late for a clean answer: let the server close the connection
                raise
            response = await _unexpected(Request(scope), exc)
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error an app can raise a problem+json answer."""
    app.add_exception_handler(StratabaseError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(CatchUnexpected)
