"""Helpers of the studio tests: studio sessions as cookies, a dead job, the studio's routes."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.session import Database
from stratabase.enums import JobStatus
from stratabase.models import Job
from stratabase.studio import routes
from tests.acceptance.api_support import Actor

CSRF = "test-csrf-token-0123456789"
#: Routes anyone may reach: the login page (and its POST), sign-out, the static assets.
PUBLIC = {"/studio/login", "/studio/logout", "/studio/static/{name}"}
#: A value for each path parameter of a studio route.
PATH_VALUES = {
    "table": "users",
    "job_id": "1",
    "item_id": "1",
    "resource": "jobs",
    "verb": "retry",
}


def cookies(actor: Actor | None, csrf: str | None = CSRF) -> dict[str, str]:
    """The studio cookies of ``actor`` (its token as the session) and a CSRF token."""
    jar = {}
    if actor is not None:
        jar["sb_studio"] = actor.token
    if csrf is not None:
        jar["sb_studio_csrf"] = csrf
    return jar


def studio_routes() -> list[tuple[str, str]]:
    """Every (method, concrete path) behind the studio's sign-in: every route of its page
    and API routers (the public router holds only the login page, sign-out and assets)."""
    found = []
    for route in [*routes.pages.routes, *routes.api.routes]:
        if not isinstance(route, APIRoute) or not route.path.startswith("/studio"):
            continue
        if route.path in PUBLIC:
            continue
        path = route.path
        for name, value in PATH_VALUES.items():
            path = path.replace("{" + name + "}", value)
        for method in sorted(route.methods - {"HEAD"}):
            found.append((method, path))
    return sorted(set(found))


async def send(
    http: httpx.AsyncClient,
    method: str,
    path: str,
    jar: dict[str, str],
    **headers: str,
) -> httpx.Response:
    """One request with these cookies (set per request: no client-wide jar)."""
    http.cookies.clear()
    for name, value in jar.items():
        http.cookies.set(name, value)
    sent: dict[str, Any] = dict(headers)
    return await http.request(method, path, headers=sent)


async def dead_job(db: Database, task: str = "noop") -> int:
    """A job that died (retryable)."""

    async def work(session: AsyncSession) -> int:
        job = Job(task=task, queue="default", status=JobStatus.DEAD, attempts=1, max_attempts=1)
        job.error = "RuntimeError: boom"
        job.payload = {"n": 1}
        session.add(job)
        await session.flush()
        return job.id

    return await db.transaction(work)
