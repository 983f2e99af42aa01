"""The studio: ``/studio``, a web UI for admins and moderators, served by the package.

An overview of the process and the database (request rate and p99, errors, cache hit
rates, pool, queues, slow statements, the ledger), live over the last 15 minutes; a
read-only browser of every table with its relations; the job queue with retry and
cancel. :func:`install_studio` mounts it on an app built by ``build_api``; see
``docs/studio.md``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response

from stratabase.studio.state import StudioState
from stratabase.studio.timeline import TimelineHook

API_PREFIX = "/studio/api"


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    from stratabase.api.errors import problem
    from stratabase.studio.routes import login_redirect

    if request.url.path.startswith(API_PREFIX):
        return problem(
            401,
            code="studio-sign-in",
            detail="sign in to the studio first",
            instance=request.url.path,
        )
    return login_redirect(request)


async def _forbidden(request: Request, exc: Exception) -> Response:
    from stratabase.api.errors import problem
    from stratabase.studio.routes import login_page

    detail = str(exc)
    if request.url.path.startswith(API_PREFIX) or request.method != "GET":
        return problem(403, code="studio-forbidden", detail=detail, instance=request.url.path)
    return login_page(request, error=detail, status=403, nxt=request.url.path)


def install_studio(app: FastAPI) -> StudioState:
    """Mount ``/studio`` on ``app`` (built by ``build_api``) and start its timeline."""
    from stratabase.studio import routes
    from stratabase.studio.overview import gauges
    from stratabase.studio.session import StudioForbidden, StudioSignInRequired

    sb = app.state.stratabase
    state = StudioState()
    state.timeline.set_sampler(lambda: gauges(sb))
    app.state.studio = state
    app.add_middleware(TimelineHook, timeline=state.timeline)
    app.add_exception_handler(StudioSignInRequired, _sign_in_required)
    app.add_exception_handler(StudioForbidden, _forbidden)
    for router in (routes.public, routes.pages, routes.api):
        app.include_router(router, include_in_schema=False)
    return state


__all__ = ["StudioState", "install_studio"]
