"""Who is using the studio: its session cookie, its CSRF token, and the role check.

The studio signs in with the ordinary sessions (:mod:`stratabase.auth.service`): the
bearer token of a session opened by the login page is kept in an ``HttpOnly``,
``SameSite=Strict`` cookie (``Secure`` over HTTPS) scoped to ``/studio``. Its few POSTs
are guarded twice: a double-submit token (a second, script-readable cookie that the page
echoes in ``X-CSRF-Token`` or a form field) and, when the browser sends one, an ``Origin``
that must be the studio's own. Admins and moderators only: anyone else gets 403 on every
page and API; without a session, pages redirect to the login page and APIs answer 401.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from typing import Annotated

from fastapi import Depends, Request
from starlette.responses import Response

from stratabase.app import Stratabase
from stratabase.auth import service as auth_service
from stratabase.auth.principal import Principal
from stratabase.exceptions import PermissionDenied, SignInRequired

#: The session cookie (the bearer token of a studio sign-in).
SESSION_COOKIE = "sb_studio"
#: The double-submit CSRF cookie (readable by the studio's script).
CSRF_COOKIE = "sb_studio_csrf"
#: The header (scripts) or form field (the login form) that must repeat it.
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
PREFIX = "/studio"
#: Longest token accepted from a cookie (ours are 43 characters).
_MAX_TOKEN = 256


class StudioSignInRequired(SignInRequired):
    """No live studio session: pages go to the login page, APIs answer 401."""

    code = "studio-sign-in"


class StudioForbidden(PermissionDenied):
    """Signed in, but not an admin or moderator (403)."""

    code = "studio-forbidden"


class CsrfRefused(PermissionDenied):
    """A studio POST without a matching CSRF token or from another origin (403)."""

    code = "csrf-refused"


def _secure(request: Request) -> bool:
    """HTTPS directly, or ``X-Forwarded-Proto: https`` from a trusted proxy."""
    if request.url.scheme == "https":
        return True
    sb: Stratabase = request.app.state.stratabase
    try:
        peer = ipaddress.ip_address(request.client.host if request.client else "")
    except ValueError:
        return False
    if not any(peer in network for network in sb.settings.trusted_proxy_networks):
        return False
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return proto == "https"


def set_session_cookie(response: Response, request: Request, token: str, max_age: int) -> None:
    """Keep the session's token in the studio cookie."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    """Forget the studio session in the browser."""
    response.delete_cookie(
        SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict", secure=_secure(request)
    )


def csrf_token(request: Request, response: Response) -> str:
    """The browser's CSRF token, issuing one (cookie) when it has none."""
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) > 128:
        token = secrets.token_urlsafe(32)
        response.set_cookie(
            CSRF_COOKIE, token, path=PREFIX, samesite="strict", secure=_secure(request)
        )
    return token


def check_origin(request: Request) -> None:
    """Refuse a request whose ``Origin`` (when sent) is not this server's."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    # The host, not the scheme: behind a TLS-terminating proxy the app may see http.
    host = origin.partition("://")[2]
    if not host or host != request.headers.get("host", ""):
        raise CsrfRefused(f"cross-origin request refused (Origin {origin})")


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a POST unless it repeats the CSRF cookie and comes from our own origin."""
    check_origin(request)
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise CsrfRefused("missing or wrong CSRF token: reload the page and try again")


async def signed_in(request: Request) -> Principal | None:
    """The principal of the studio cookie, or None (no cookie, or a dead session)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > _MAX_TOKEN:
        return None
    sb: Stratabase = request.app.state.stratabase
    return await auth_service.authenticate(sb.db, sb.cache, token)


async def studio_user(request: Request) -> Principal:
    """An admin or moderator signed in to the studio; otherwise 401/redirect or 403."""
    principal = await signed_in(request)
    if principal is None:
        raise StudioSignInRequired("sign in to the studio first")
    if not principal.is_moderator:
        raise StudioForbidden("the studio is for administrators and moderators")
    request.state.principal = principal
    return principal


async def csrf_guard(request: Request) -> None:
    """Every studio POST API: the token in ``X-CSRF-Token`` and our own origin."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        check_csrf(request, request.headers.get(CSRF_HEADER))


#: An admin or moderator with a studio session.
StudioUserDep = Annotated[Principal, Depends(studio_user)]
#: The CSRF check of the studio's POST APIs.
CsrfGuard = Depends(csrf_guard)

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "CsrfGuard",
    "CsrfRefused",
    "StudioForbidden",
    "StudioSignInRequired",
    "StudioUserDep",
    "check_csrf",
    "clear_session_cookie",
    "csrf_token",
    "set_session_cookie",
    "signed_in",
    "studio_user",
]
