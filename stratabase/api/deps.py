"""FastAPI dependencies as ``Annotated`` aliases: routes declare what they need by type."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from stratabase.accounts.service import AccountService
from stratabase.api.client_ip import client_ip, limit_key
from stratabase.app import Stratabase
from stratabase.auth import service as auth_service
from stratabase.auth.principal import Principal
from stratabase.cache import Cache
from stratabase.db.session import Database
from stratabase.exceptions import InvalidInput, PermissionDenied
from stratabase.jobs.service import JobService
from stratabase.ledger.payments import PaymentService
from stratabase.ledger.service import LedgerService
from stratabase.media.service import MediaService
from stratabase.moderation.service import ModerationService
from stratabase.observability.context import set_user as set_request_user
from stratabase.pagination import CursorCodec
from stratabase.ratelimit import RateLimiter, Scope
from stratabase.settings import Settings


async def get_stratabase(request: Request) -> Stratabase:
    """The composition root the app was built on (``create_app`` / ``Stratabase.asgi``).

    Every dependency here is ``async def``, even those that only read an attribute:
    FastAPI runs a plain ``def`` dependency in its threadpool, a thread hop per
    dependency per request."""
    return request.app.state.stratabase  # type: ignore[no-any-return]


StratabaseDep = Annotated[Stratabase, Depends(get_stratabase)]


def _root(request: Request) -> Stratabase:
    # The dependencies below read the root themselves rather than depend on
    # get_stratabase: one dependency less to solve, per dependency, per request.
    return request.app.state.stratabase  # type: ignore[no-any-return]


async def get_database(request: Request) -> Database:
    """The root's database (engine and session scope), shared by every request."""
    return _root(request).db


async def get_settings(request: Request) -> Settings:
    """The settings the root was built from: routes read limits and flags here, never from the
    environment."""
    return _root(request).settings


async def get_cache(request: Request) -> Cache:
    """The root's cache, so a route and the services it calls share one instance (and its
    invalidation)."""
    return _root(request).cache


async def get_ledger(request: Request) -> LedgerService:
    """The root's token ledger, with its batcher and hooks (never one built per request)."""
    return _root(request).ledger


async def get_payments(request: Request) -> PaymentService:
    """The root's payment service, holding the webhook secrets it checks with."""
    return _root(request).payments


async def get_jobs(request: Request) -> JobService:
    """The root's job service: the one place the queue's rules (defaults, state machine) live."""
    return _root(request).jobs


async def get_moderation(request: Request) -> ModerationService:
    """The root's moderation service: reports, the review queue and decisions, audited."""
    return _root(request).moderation


async def get_accounts(request: Request) -> AccountService:
    """The account self-service of the root."""
    return _root(request).accounts


async def get_media(request: Request) -> MediaService:
    """The root's media service (uploads, attachments) and its store."""
    return _root(request).media


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
#: The app's cache (in-process, or two tiers over Redis), built once by the root.
CacheDep = Annotated[Cache, Depends(get_cache)]
#: The token ledger, with the hooks the root was given.
LedgerDep = Annotated[LedgerService, Depends(get_ledger)]
#: Payment intents and webhooks (checked with the root's secrets).
PaymentsDep = Annotated[PaymentService, Depends(get_payments)]
#: The job queue's use cases and the tasks the API accepts.
JobsDep = Annotated[JobService, Depends(get_jobs)]
#: Reports, the review queue, decisions and appeals.
ModerationDep = Annotated[ModerationService, Depends(get_moderation)]
#: Account self-service (profile, passwords, sessions, deletion, export).
AccountsDep = Annotated[AccountService, Depends(get_accounts)]
#: Media uploads and attachments.
MediaDep = Annotated[MediaService, Depends(get_media)]


# --- authentication -------------------------------------------------------------------

#: RFC 6750 ``b64token`` after the scheme (any case) and one or more spaces.
_BEARER = re.compile(r"(?i:bearer) +([A-Za-z0-9\-._~+/]+=*)")
#: Our tokens are 43 characters; anything far longer is refused without a lookup.
_MAX_TOKEN_LENGTH = 256


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


class _StrictBearer(HTTPBearer):
    """Bearer auth that refuses what it cannot read. FastAPI's ``HTTPBearer`` returns None
    (anonymous) for ``Basic …``, a bare ``Bearer`` or an empty header; a client that sent
    credentials must learn they were not accepted (401), not be served as nobody."""

    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials | None:
        values = request.headers.getlist("authorization")
        if not values:
            return None
        match = _BEARER.fullmatch(values[0].strip()) if len(values) == 1 else None
        if match is None:
            raise _unauthorized("expected one 'Authorization: Bearer <token>' header")
        return HTTPAuthorizationCredentials(scheme="Bearer", credentials=match.group(1))


_bearer = _StrictBearer(
    scheme_name="HTTPBearer",  # the name OpenAPI clients already know
    auto_error=False,
    description="an opaque token from /v1/auth/login",
)


async def get_optional_user(
    request: Request,
    db: DatabaseDep,
    cache: CacheDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller if a bearer token was sent; a bad or malformed one is 401, never anonymous."""
    if credentials is None:
        return None
    principal = None
    if len(credentials.credentials) <= _MAX_TOKEN_LENGTH:
        principal = await auth_service.authenticate(db, cache, credentials.credentials)
    if principal is None:
        raise _unauthorized("the token is invalid, expired or revoked")
    request.state.principal = principal
    set_request_user(principal.user_id)  # for the slow-query log (observability)
    return principal


async def get_current_user(
    principal: Annotated[Principal | None, Depends(get_optional_user)],
) -> Principal:
    """The signed-in caller; without a token a 401 with a Bearer challenge, so clients know to sign
    in."""
    if principal is None:
        raise _unauthorized("sign in first: send 'Authorization: Bearer <token>'")
    return principal


async def get_moderator(principal: Annotated[Principal, Depends(get_current_user)]) -> Principal:
    """The caller if a moderator (hiding posts, reviewing reports); 403 otherwise."""
    if not principal.is_moderator:
        raise PermissionDenied("moderators only")
    return principal


async def get_admin(principal: Annotated[Principal, Depends(get_current_user)]) -> Principal:
    """The caller if an administrator (operator-only routes); 403 otherwise."""
    if not principal.is_admin:
        raise PermissionDenied("administrators only")
    return principal


async def get_writer(principal: Annotated[Principal, Depends(get_current_user)]) -> Principal:
    """The caller unless suspended (suspended accounts read but never write); 403 before any
    work."""
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


async def get_cursors(request: Request) -> CursorCodec:
    """The app's cursor signer, keyed by the settings' secret."""
    return _root(request).cursors


CursorsDep = Annotated[CursorCodec, Depends(get_cursors)]


def get_rate_limiter(request: Request) -> RateLimiter:
    """The app's limiter (``Stratabase(rate_limits=…)`` or ``limiter=…`` tunes it). A
    helper called directly, not a dependency."""
    return _root(request).limiter


async def _enforce(request: Request, scope: Scope, principal: Principal | None) -> None:
    limiter = get_rate_limiter(request)
    if not getattr(limiter.limits, scope):
        return  # this scope is not limited: no identity to work out
    if principal is not None and scope != "auth":
        identity = f"user:{principal.user_id}"
    else:
        identity = limit_key(client_ip(request))
    verdict = await limiter.hit(scope, identity)
    if not verdict.allowed:
        raise HTTPException(
            429,
            detail=f"too many requests: at most {verdict.limit} per window; "
            f"retry in {verdict.retry_after} s",
            headers={"Retry-After": str(verdict.retry_after)},
        )


def _account(email: str) -> str:
    # Hashed: the limiter's keys (in Redis) need not list who tried to sign in.
    return "account:" + hashlib.sha256(email.lower().encode()).hexdigest()[:32]


async def limit_login_attempt(request: Request, email: str) -> None:
    """Count a sign-in attempt on ``email``'s account, whatever IP it comes from, and refuse
    it (429) once the account's budget is spent. Called before the password is checked, so a
    refused guess costs no argon2 work; unknown emails are counted alike, so the answer does
    not tell which accounts exist."""
    verdict = await get_rate_limiter(request).hit("login", _account(email))
    if not verdict.allowed:
        raise HTTPException(
            429,
            detail=f"too many sign-in attempts for this account: at most {verdict.limit} per "
            f"window; retry in {verdict.retry_after} s",
            headers={"Retry-After": str(verdict.retry_after)},
        )


async def forget_login_attempts(request: Request, email: str) -> None:
    """A successful sign-in clears the account's count of attempts."""
    await get_rate_limiter(request).forget("login", _account(email))


async def limit_by_method(
    request: Request, principal: Annotated[Principal | None, Depends(get_optional_user)]
) -> None:
    """Reads and writes have separate budgets, per user when signed in, else per IP."""
    scope: Scope = "read" if request.method in ("GET", "HEAD", "OPTIONS") else "write"
    await _enforce(request, scope, principal)


async def limit_auth(request: Request) -> None:
    """Sign-in and sign-up: a small budget per IP."""
    await _enforce(request, "auth", None)


async def limit_reports(
    request: Request, principal: Annotated[Principal, Depends(get_current_user)]
) -> None:
    """Moderation reports: a budget of their own per user (``report``)."""
    await _enforce(request, "report", principal)


RateLimited = Depends(limit_by_method)
AuthRateLimited = Depends(limit_auth)
#: The ``report`` budget (on top of the write budget).
ReportRateLimited = Depends(limit_reports)


# --- input hygiene --------------------------------------------------------------------

#: Paths whose body is a binary upload the route streams itself (no NUL check, no full read).
STREAMED_UPLOADS = frozenset({"/v1/media"})
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


async def reject_nul(request: Request) -> None:
    """Refuse NUL characters up front (422): PostgreSQL text cannot store them, and a
    driver error deep in a transaction would otherwise surface as a 500."""
    query: bytes = request.scope.get("query_string", b"")  # raw: no URL object built
    if b"%00" in query or b"\x00" in query:
        raise InvalidInput("query parameters may not contain NUL characters", field="query")
    if request.method in ("POST", "PUT", "PATCH"):
        if request.url.path in STREAMED_UPLOADS:
            return  # binary, streamed and checked by stratabase.media.upload: not read here
        body = await request.body()
        # the substring test first: the regex costs ~1 ms on a 10 kB body, ``in`` ~1 µs
        if b"\x00" in body or (b"\\u0000" in body and _JSON_NUL.search(body)):
            raise InvalidInput("the body may not contain NUL characters", field="body")


InputGuard = Depends(reject_nul)
