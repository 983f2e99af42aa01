"""``create_app(settings)``: the HTTP surface, built from settings with nothing global."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import stratabase
from stratabase.api.deps import InputGuard
from stratabase.api.errors import install_error_handlers
from stratabase.api.routes import auth, categories, comments, feeds, health, posts, search, users
from stratabase.api.routes.jobs import router as jobs_router
from stratabase.api.routes.payments import router as payments_router
from stratabase.api.routes.stats import router as stats_router
from stratabase.api.routes.wallet import router as wallet_router
from stratabase.cache import Cache, SmartCache, build_cache
from stratabase.db.session import Database
from stratabase.settings import Settings


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
            if cache is None:
                await app_cache.close()
            if owned:
                await db.dispose()

    app = FastAPI(
        title="Stratabase",
        version=stratabase.__version__,
        description="The data backbone for content and community applications.",
        lifespan=lifespan,
        # PostgreSQL text cannot hold NUL: refuse it at the edge (422) on every route.
        dependencies=[InputGuard],
    )
    app.state.settings = settings
    app.state.cache = app_cache
    if database is not None:
        app.state.db = database
        if isinstance(app_cache, SmartCache):
            app_cache.bind(database)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(wallet_router)
    app.include_router(payments_router)
    app.include_router(jobs_router)
    app.include_router(stats_router)
    for module in (auth, users, posts, comments, feeds, search, categories):
        app.include_router(module.router)
    return app
