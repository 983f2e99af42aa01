"""FastAPI dependencies as ``Annotated`` aliases: routes declare what they need by type."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from stratabase.auth import service as auth_service
from stratabase.auth.principal import Principal
from stratabase.cache import Cache
from stratabase.db.session import Database
from stratabase.exceptions import InvalidInput, PermissionDenied
from stratabase.pagination import CursorCodec
from stratabase.ratelimit import RateLimiter, Scope
from stratabase.settings import Settings


def get_database(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_cache(request: Request) -> Cache:
    return request.app.state.cache  # type: ignore[no-any-return]


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
#: The app's cache (in-process, or two tiers over Redis), built once by ``create_app``.
CacheDep = Annotated[Cache, Depends(get_cache)]


# --- authentication -------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="an opaque token from /v1/auth/login")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def get_optional_user(
    request: Request,
    db: DatabaseDep,
    cache: CacheDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller if a bearer token was sent; a bad token is 401, not silently anonymous."""
    if credentials is None:
        return None
    if credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise _unauthorized("expected 'Authorization: Bearer <token>'")
    principal = await auth_service.authenticate(db, cache, credentials.credentials)
    if principal is None:
        raise _unauthorized("the token is invalid, expired or revoked")
    request.state.principal = principal
    return principal


async def get_current_user(
    principal: Annotated[Principal | None, Depends(get_optional_user)],
) -> Principal:
    if principal is None:
        raise _unauthorized("sign in first: send 'Authorization: Bearer <token>'")
    return principal


async def get_moderator(principal: Annotated[Principal, Depends(get_current_user)]) -> Principal:
    if not principal.is_moderator:
        raise PermissionDenied("moderators only")
    return principal


async def get_admin(principal: Annotated[Principal, Depends(get_current_user)]) -> Principal:
    if not principal.is_admin:
        raise PermissionDenied("administrators only")
    return principal


async def get_writer(principal: Annotated[Principal, Depends(get_current_user)]) -> Principal:
    principal.require_writer()
    return principal


#: The signed-in caller (401 problem otherwise).
CurrentUserDep = Annotated[Principal, Depends(get_current_user)]
#: The caller if signed in, else None (a bad token is still 401).
OptionalUserDep = Annotated[Principal | None, Depends(get_optional_user)]
#: A signed-in caller whose account may write (suspended accounts get 403).
WriterUserDep = Annotated[Principal, Depends(get_writer)]
#: Moderator or admin (403 otherwise).
ModeratorUserDep = Annotated[Principal, Depends(get_moderator)]
#: Admin only (403 otherwise).
AdminUserDep = Annotated[Principal, Depends(get_admin)]


# --- cursors and rate limits ------------------------------------------------------------


def get_cursors(request: Request) -> CursorCodec:
    """The app's cursor signer, keyed by the settings' secret (built on first use)."""
    state = request.app.state
    codec = getattr(state, "cursors", None)
    if codec is None:
        codec = CursorCodec(state.settings.secret_key.get_secret_value())
        state.cursors = codec
    return codec


CursorsDep = Annotated[CursorCodec, Depends(get_cursors)]


def get_rate_limiter(request: Request) -> RateLimiter:
    """The app's limiter; set ``app.state.rate_limits`` before the first request to tune it."""
    state = request.app.state
    limiter = getattr(state, "rate_limiter", None)
    if limiter is None:
        limiter = RateLimiter(state.settings, getattr(state, "rate_limits", None))
        state.rate_limiter = limiter
    return limiter


async def _enforce(request: Request, scope: Scope, principal: Principal | None) -> None:
    limiter = get_rate_limiter(request)
    if principal is not None and scope != "auth":
        identity = f"user:{principal.user_id}"
    else:
        identity = f"ip:{request.client.host if request.client else 'unknown'}"
    verdict = await limiter.hit(scope, identity)
    if not verdict.allowed:
        raise HTTPException(
            429,
            detail=f"too many requests: at most {verdict.limit} per window; "
            f"retry in {verdict.retry_after} s",
            headers={"Retry-After": str(verdict.retry_after)},
        )


async def limit_by_method(
    request: Request, principal: Annotated[Principal | None, Depends(get_optional_user)]
) -> None:
    """Reads and writes have separate budgets, per user when signed in, else per IP."""
    scope: Scope = "read" if request.method in ("GET", "HEAD", "OPTIONS") else "write"
    await _enforce(request, scope, principal)


async def limit_auth(request: Request) -> None:
    """Sign-in and sign-up: a small budget per IP."""
    await _enforce(request, "auth", None)


RateLimited = Depends(limit_by_method)
AuthRateLimited = Depends(limit_auth)


# --- input hygiene --------------------------------------------------------------------

_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


async def reject_nul(request: Request) -> None:
    """Refuse NUL characters up front (422): PostgreSQL text cannot store them, and a
    driver error deep in a transaction would otherwise surface as a 500."""
    if "%00" in request.url.query or "\x00" in request.url.query:
        raise InvalidInput("query parameters may not contain NUL characters", field="query")
    if request.method in ("POST", "PUT", "PATCH"):
        body = await request.body()
        if b"\x00" in body or _JSON_NUL.search(body):
            raise InvalidInput("the body may not contain NUL characters", field="body")


InputGuard = Depends(reject_nul)
