"""``create_app(settings)``: the HTTP surface, built from settings with nothing global."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import stratabase
from stratabase.api.errors import install_error_handlers
from stratabase.api.routes import health
from stratabase.db.session import Database
from stratabase.settings import Settings


def create_app(settings: Settings, *, database: Database | None = None) -> FastAPI:
    """Build the API. Pass ``database`` to share one you already own (tests, ``up``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = database is None
        db = database or Database(settings)
        app.state.db = db
        try:
            if owned:
                await db.engines.warm()
            yield
        finally:
            if owned:
                await db.dispose()

    app = FastAPI(
        title="Stratabase",
        version=stratabase.__version__,
        description="The data backbone for content and community applications.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    if database is not None:
        app.state.db = database
    install_error_handlers(app)
    app.include_router(health.router)
    return app
