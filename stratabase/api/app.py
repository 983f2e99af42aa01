"""``create_app(settings)``: the HTTP surface, built from settings with nothing global."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI
from starlette.types import ASGIApp

import stratabase
from stratabase.api.deps import STREAMED_UPLOADS, InputGuard
from stratabase.api.docs import install_docs
from stratabase.api.errors import install_error_handlers
from stratabase.api.fast_path import PostPageFastPath
from stratabase.api.middleware import (
    BodyLimit,
    HeadAsGet,
    Observe,
    ProblemCORS,
    SecurityHeaders,
    cors_options,
)
from stratabase.api.openapi import install_openapi
from stratabase.api.routes import auth, categories, comments, feeds, health, posts, search, users
from stratabase.api.routes.account import router as account_router
from stratabase.api.routes.analytics import router as analytics_router
from stratabase.api.routes.audit import bind_audit_context
from stratabase.api.routes.audit import router as audit_router
from stratabase.api.routes.changes import router as changes_router
from stratabase.api.routes.chat import router as chat_router
from stratabase.api.routes.events import router as events_router
from stratabase.api.routes.highlights import router as highlights_router
from stratabase.api.routes.jobs import router as jobs_router
from stratabase.api.routes.media import router as media_router
from stratabase.api.routes.metrics import router as metrics_router
from stratabase.api.routes.moderation import router as moderation_router
from stratabase.api.routes.organizations import invitations_router
from stratabase.api.routes.organizations import router as organizations_router
from stratabase.api.routes.payments import router as payments_router
from stratabase.api.routes.projects import router as projects_router
from stratabase.api.routes.stats import router as stats_router
from stratabase.api.routes.videos import router as videos_router
from stratabase.api.routes.wallet import router as wallet_router
from stratabase.cache import Cache
from stratabase.db.session import Database
from stratabase.settings import Settings
from stratabase.studio import install_studio

if TYPE_CHECKING:
    from stratabase.app import Stratabase


class StratabaseAPI(FastAPI):
    """FastAPI with the security headers as its outermost layer, so that even a 500
    written by Starlette's error middleware (outside all user middleware) carries them;
    inside them, the anonymous post page's fast path (:mod:`stratabase.api.fast_path`)."""

    def build_middleware_stack(self) -> ASGIApp:
        """Wrap Starlette's whole stack, so these layers see every response (see the class);
        outermost, the request id and the HTTP metrics (:class:`Observe`)."""
        return Observe(SecurityHeaders(PostPageFastPath(super().build_middleware_stack())))


#: FastAPI versions with native OpenTelemetry take ``telemetry=``; older ones do not.
_NATIVE_TELEMETRY = "telemetry" in inspect.signature(FastAPI.__init__).parameters


def _telemetry_options(settings: Settings) -> dict[str, Any]:
    """FastAPI's OpenTelemetry spans, metrics and logs only with ``STRATABASE_TELEMETRY``:
    otherwise FastAPI asks the OpenTelemetry API on every request whether a provider has
    been configured, for nothing."""
    if not _NATIVE_TELEMETRY or settings.telemetry:
        return {}
    off = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    return {"telemetry": off}


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    cache: Cache | None = None,
    **options: Any,
) -> FastAPI:
    """Build the API on a new :class:`~stratabase.app.Stratabase`, which the app opens at
    startup and closes at shutdown. Pass ``database`` or ``cache`` to share one you own
    (tests); ``options`` are the root's (``rate_limits``, ``limiter``, ``ledger_hooks``,
    ``job_registry``, ``webhook_secrets``)."""
    from stratabase.app import Stratabase

    return build_api(Stratabase(settings, database=database, cache=cache, **options), owned=True)


def build_api(sb: Stratabase, *, owned: bool, ready: bool = False) -> FastAPI:
    """The HTTP surface of ``sb``; ``owned``: its lifespan opens and closes ``sb``;
    ``ready``: it also checks the schema and resolves the secret key at startup
    (:meth:`Stratabase.ready`, for a server process: ``stratabase.asgi``).

    Everything is built before the lifespan: in-process clients (httpx.ASGITransport) do
    not run it, and nothing connects until first use anyway.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not owned:
            yield
            return
        async with sb:
            if ready:
                await sb.ready()
            yield

    app = StratabaseAPI(
        title="Stratabase",
        version=stratabase.__version__,
        description="The data backbone for content and community applications.",
        lifespan=lifespan,
        # PostgreSQL text cannot hold NUL: refuse it at the edge (422) on every route.
        dependencies=[InputGuard, Depends(bind_audit_context)],
        # Served from the package by install_docs (no CDN), with a CSP.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        **_telemetry_options(sb.settings),
    )
    #: The composition root every dependency reads (``api/deps.py``).
    app.state.stratabase = sb
    # Added innermost first: routing, HEAD, the body limit, CORS (when on), then the 500
    # catcher (install_error_handlers), outermost of ours so it sees every layer's errors.
    app.add_middleware(HeadAsGet)
    app.add_middleware(BodyLimit, limit=sb.settings.max_body_bytes, exempt=STREAMED_UPLOADS)
    cors = cors_options(sb.settings)
    if cors is not None:
        app.add_middleware(ProblemCORS, **cors)  # type: ignore[arg-type]
    install_error_handlers(app)
    install_docs(app)
    install_openapi(app)
    # Routers are tried in order, each costing a request tens of microseconds to pass
    # over (docs/operations.md): the read path first, then the rest. No path is served by
    # two routers, so the order changes nothing else (the OpenAPI lists paths in it).
    for module in (posts, feeds, comments, users, search, categories, auth):
        app.include_router(module.router)
    # event batches arrive at hundreds per second: tried before the less busy routers
    app.include_router(events_router)
    app.include_router(health.router)
    app.include_router(stats_router)
    app.include_router(wallet_router)
    app.include_router(payments_router)
    app.include_router(jobs_router)
    app.include_router(changes_router)
    app.include_router(chat_router)
    app.include_router(analytics_router)
    app.include_router(highlights_router)
    app.include_router(moderation_router)
    app.include_router(audit_router)
    app.include_router(organizations_router)
    app.include_router(invitations_router)
    app.include_router(projects_router)
    app.include_router(metrics_router)
    app.include_router(account_router)
    app.include_router(media_router)
    app.include_router(videos_router)
    install_studio(app)  # /studio: admins' and moderators' web UI (docs/studio.md)
    sb.observability.install()  # SQL, pool and cache metrics; the slow-query log
    return app
