"""Shared by the cache-wiring tests: an app (one "process") on a database and a cache."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from stratabase.api.app import create_app
from stratabase.cache import SmartCache
from stratabase.db.session import Database
from stratabase.settings import Settings
from tests.acceptance.api_support import NO_LIMITS, Api


@asynccontextmanager
async def serve(settings: Settings, db: Database, cache: SmartCache) -> AsyncIterator[Api]:
    """One app (one "process") on ``db`` and ``cache``."""
    app = create_app(settings, database=db, cache=cache, rate_limits=NO_LIMITS)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield Api(http, db)
