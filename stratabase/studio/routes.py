"""``/studio``: the pages (one shell, drawn by the studio's script), their JSON APIs,
the login page and the static assets, all shipped in the package.

Every page and API needs an admin or moderator with a studio session
(:mod:`stratabase.studio.session`); only the login page and the static assets are open.
Routes parse, call one function of the studio's modules or a service, and render.
"""

from __future__ import annotations

import html
import mimetypes
from importlib import resources
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from stratabase.api.client_ip import client_ip
from stratabase.api.deps import (
    InputGuard,
    RateLimited,
    forget_login_attempts,
    limit_auth,
    limit_login_attempt,
)
from stratabase.api.routes._params import ObjectId
from stratabase.app import Stratabase
from stratabase.auth import service as auth_service
from stratabase.db.types import utcnow
from stratabase.enums import JobStatus
from stratabase.exceptions import InvalidInput
from stratabase.studio import actions, browser
from stratabase.studio.overview import overview
from stratabase.studio.session import (
    CSRF_FIELD,
    CsrfGuard,
    StudioUserDep,
    check_csrf,
    clear_session_cookie,
    csrf_token,
    set_session_cookie,
    signed_in,
    studio_user,
)
from stratabase.studio.state import StudioState

#: A Content-Security-Policy for every studio page: our own scripts, styles and calls only.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_STATIC = resources.files("stratabase.studio") / "static"
_ASSETS = frozenset({"studio.css", "studio.js", "charts.js", "favicon.svg"})

#: Pages: the shell the script draws; any signed-in admin or moderator.
pages = APIRouter(prefix="/studio", dependencies=[InputGuard, Depends(studio_user)])
#: JSON APIs: the same check, rate limited like the API, CSRF-checked on POST.
api = APIRouter(
    prefix="/studio/api", dependencies=[InputGuard, Depends(studio_user), RateLimited, CsrfGuard]
)
#: The login page and the assets (open).
public = APIRouter(prefix="/studio", dependencies=[InputGuard])


def _sb(request: Request) -> Stratabase:
    return request.app.state.stratabase  # type: ignore[no-any-return]


def _state(request: Request) -> StudioState:
    return request.app.state.studio  # type: ignore[no-any-return]


def _page(name: str, **values: str) -> str:
    text = (_STATIC / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value))
    return text


def _html(body: str, status: int = 200) -> HTMLResponse:
    response = HTMLResponse(body, status_code=status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def shell(request: Request) -> HTMLResponse:
    """The page shell; the script reads the path and draws the page."""
    response = _html("")
    token = csrf_token(request, response)
    response.body = _page("shell.html", csrf=token).encode()
    response.headers["content-length"] = str(len(response.body))
    return response


# --- pages ------------------------------------------------------------------------------


@pages.get("", response_class=HTMLResponse)
@pages.get("/data", response_class=HTMLResponse)
@pages.get("/data/{table}", response_class=HTMLResponse)
@pages.get("/data/{table}/row", response_class=HTMLResponse)
@pages.get("/jobs", response_class=HTMLResponse)
@pages.get("/jobs/{job_id}", response_class=HTMLResponse)
async def page(request: Request) -> HTMLResponse:
    """Overview, data browser, jobs: one shell, drawn by ``studio.js``."""
    return shell(request)


# --- login ------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/studio") and "//" not in target and "\\" not in target:
        return target
    return "/studio"


def login_page(request: Request, *, error: str = "", status: int = 200, nxt: str = "") -> Response:
    """The sign-in form, with a fresh CSRF token when the browser has none."""
    response = _html("", status)
    token = csrf_token(request, response)
    body = _page("login.html", csrf=token, error=error, next=_safe_next(nxt))
    response.body = body.encode()
    response.headers["content-length"] = str(len(response.body))
    return response


@public.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/studio") -> Response:
    """The sign-in page (straight to the studio when already signed in)."""
    principal = await signed_in(request)
    if principal is not None and principal.is_moderator:
        return RedirectResponse(_safe_next(next), status_code=303)
    return login_page(request, nxt=next)


@public.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Check the CSRF token, then email and password; admins and moderators only."""
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    check_csrf(request, form.get(CSRF_FIELD))
    email, password = form.get("email", "").strip(), form.get("password", "")
    target = _safe_next(form.get("next"))
    if not email or not password:
        return login_page(request, error="Enter your email and password.", status=422, nxt=target)
    await limit_auth(request)
    await limit_login_attempt(request, email)
    sb = _sb(request)
    client = auth_service.ClientInfo(
        device="studio", ip=client_ip(request), user_agent=request.headers.get("user-agent")
    )
    issued = await auth_service.login(sb.db, email, password, client)
    if issued is None:
        return login_page(request, error="Wrong email or password.", status=401, nxt=target)
    await forget_login_attempts(request, email)
    if issued.user.role.value not in ("admin", "moderator"):
        principal = await auth_service.authenticate(sb.db, sb.cache, issued.token)
        if principal is not None:
            await auth_service.logout(sb.db, sb.cache, principal)
        error = "The studio is for administrators and moderators."
        return login_page(request, error=error, status=403, nxt=target)
    response = RedirectResponse(target, status_code=303)
    max_age = int((issued.expires_at - utcnow()).total_seconds())
    set_session_cookie(response, request, issued.token, max(max_age, 60))
    return response


@public.post("/logout")
async def logout(request: Request) -> Response:
    """End the studio session (revoked server-side too) and go back to the login page."""
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    check_csrf(request, form.get(CSRF_FIELD) or request.headers.get("x-csrf-token"))
    principal = await signed_in(request)
    if principal is not None:
        sb = _sb(request)
        await auth_service.logout(sb.db, sb.cache, principal)
    response = RedirectResponse("/studio/login", status_code=303)
    clear_session_cookie(response, request)
    return response


@public.get("/static/{name}")
async def asset(name: str) -> Response:
    """The studio's own scripts, styles and icon (no CDN)."""
    if name not in _ASSETS:
        raise HTTPException(404, detail=f"no asset {name!r}")
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    body = (_STATIC / name).read_bytes()
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    return Response(body, media_type=kind, headers=headers)


# --- JSON APIs --------------------------------------------------------------------------


@api.get("/me")
async def me(principal: StudioUserDep) -> dict[str, Any]:
    """Who is signed in: id and role (the script hides what the role cannot do)."""
    return {"id": principal.user_id, "role": principal.role.value}


@api.get("/overview")
async def overview_json(request: Request, principal: StudioUserDep) -> dict[str, Any]:
    """The overview's figures and its 15-minute series (10-second buckets)."""
    state = _state(request)
    return await overview(_sb(request), state.timeline, state.slow, state.verdicts)


@api.get("/tables")
async def tables(principal: StudioUserDep) -> dict[str, Any]:
    """Every table: columns, keys, which columns can filter."""
    return {"items": browser.catalog()}


def _filters(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if k not in browser.RESERVED}


@api.get("/tables/{table}/rows")
async def table_rows(
    request: Request,
    table: str,
    principal: StudioUserDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=browser.MAX_LIMIT)] = 50,
) -> dict[str, Any]:
    """A page of a table, newest first; other query parameters filter by equality."""
    sb = _sb(request)
    found = await browser.rows(
        sb.db, sb.cursors, table, _filters(request), cursor=cursor, limit=limit
    )
    return found.as_dict()


@api.get("/tables/{table}/row")
async def table_row(request: Request, table: str, principal: StudioUserDep) -> dict[str, Any]:
    """One row by primary key (query parameters), with its relations both ways."""
    return await browser.row(_sb(request).db, table, _filters(request))


@api.get("/jobs")
async def jobs(
    request: Request,
    principal: StudioUserDep,
    status: JobStatus | None = None,
    queue: str | None = None,
    task: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> dict[str, Any]:
    """Jobs newest first, filtered by status, queue or task (admins)."""
    sb = _sb(request)
    found = await sb.jobs.list_jobs(
        principal,
        statuses=[status] if status else (),
        queue=queue or None,
        task=task or None,
        cursor=cursor,
        limit=limit,
    )
    stats = await sb.jobs.stats(principal)
    return {
        "items": [job.model_dump(mode="json") for job in found.items],
        "next_cursor": found.next_cursor,
        "has_more": found.has_more,
        "stats": stats.as_dict(),
    }


@api.get("/jobs/{job_id}")
async def job(request: Request, job_id: ObjectId, principal: StudioUserDep) -> dict[str, Any]:
    """One job: payload, error, attempts (admins)."""
    return (await _sb(request).jobs.get(principal, job_id)).model_dump(mode="json")


_ACTIONS = {
    ("jobs", "retry"): actions.retry_job,
    ("jobs", "cancel"): actions.cancel_job,
    ("posts", "hide"): actions.hide_post,
    ("users", "suspend"): actions.suspend_user,
}


@api.post("/{resource}/{item_id}/{verb}")
async def act(
    request: Request, resource: str, item_id: ObjectId, verb: str, principal: StudioUserDep
) -> JSONResponse:
    """One audited action: retry or cancel a job, hide a post, suspend a user."""
    action = _ACTIONS.get((resource, verb))
    if action is None:
        raise InvalidInput(f"no action {verb!r} on {resource!r}", field="verb")
    done = await action(_sb(request), principal, item_id, client_ip(request))
    body = {"resource": done.resource, "id": done.id, "action": done.action, "state": done.state}
    return JSONResponse(body)


def login_redirect(request: Request) -> RedirectResponse:
    """Where a page without a session sends the browser."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/studio/login?next={quote(target)}", status_code=303)


__all__ = ["CSP", "api", "login_page", "login_redirect", "pages", "public", "shell"]
