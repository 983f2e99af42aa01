"""``create_app(settings)``: the HTTP surface, built from settings with nothing global."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

import stratabase
from stratabase.api.deps import InputGuard
from stratabase.api.docs import install_docs
from stratabase.api.errors import install_error_handlers
from stratabase.api.middleware import (
    BodyLimit,
    HeadAsGet,
    ProblemCORS,
    SecurityHeaders,
    cors_options,
)
from stratabase.api.openapi import install_openapi
from stratabase.api.routes import auth, categories, comments, feeds, health, posts, search, users
from stratabase.api.routes.jobs import router as jobs_router
from stratabase.api.routes.payments import router as payments_router
from stratabase.api.routes.stats import router as stats_router
from stratabase.api.routes.wallet import router as wallet_router
from stratabase.cache import Cache, SmartCache, build_cache
from stratabase.db.session import Database
from stratabase.jobs.registry import builtin_registry
from stratabase.settings import Settings


class StratabaseAPI(FastAPI):
    """FastAPI with the security headers as its outermost layer, so that even a 500
    written by Starlette's error middleware (outside all user middleware) carries them."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


def create_app(
    settings: Settings, *, database: Database | None = None, cache: Cache | None = None
) -> FastAPI:
    """Build the API. Pass ``database`` or ``cache`` to share one you already own (tests,
    ``up``); otherwise the app builds its own and closes it at shutdown."""
    # Built here, not in the lifespan: nothing connects until first use, and in-process
    # clients (httpx.ASGITransport) do not run the lifespan.
    app_cache = cache if cache is not None else build_cache(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = database is None
        db = database or Database(settings)
        app.state.db = db
        if isinstance(app_cache, SmartCache):
            app_cache.bind(db)  # CLI changes seen; no invalidation lost to a process death
        try:
            if owned:
                await db.engines.warm()
            yield
        finally:
            limiter = getattr(app.state, "rate_limiter", None)
            if limiter is not None:
                await limiter.close()
            if cache is None:
                await app_cache.close()
            if owned:
                await db.dispose()

    app = StratabaseAPI(
        title="Stratabase",
        version=stratabase.__version__,
        description="The data backbone for content and community applications.",
        lifespan=lifespan,
        # PostgreSQL text cannot hold NUL: refuse it at the edge (422) on every route.
        dependencies=[InputGuard],
        # Served from the package by install_docs (no CDN), with a CSP.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.settings = settings
    app.state.cache = app_cache
    #: The tasks ``POST /v1/jobs`` accepts; replace before the first request to add yours.
    app.state.job_registry = builtin_registry(periodic=False)
    if database is not None:
        app.state.db = database
        if isinstance(app_cache, SmartCache):
            app_cache.bind(database)
    # Added innermost first: routing, HEAD, the body limit, CORS (when on), then the 500
    # catcher (install_error_handlers), outermost of ours so it sees every layer's errors.
    app.add_middleware(HeadAsGet)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    cors = cors_options(settings)
    if cors is not None:
        app.add_middleware(ProblemCORS, **cors)  # type: ignore[arg-type]
    install_error_handlers(app)
    install_docs(app)
    install_openapi(app)
    app.include_router(health.router)
    app.include_router(wallet_router)
    app.include_router(payments_router)
    app.include_router(jobs_router)
    app.include_router(stats_router)
    for module in (auth, users, posts, comments, feeds, search, categories):
        app.include_router(module.router)
    return app
