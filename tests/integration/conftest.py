"""Integration fixtures: the cache-wiring tests run each case on every cache kind."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from stratabase.cache import SmartCache, build_cache
from stratabase.cache.two_tier import TwoTierStore
from stratabase.db.session import Database
from stratabase.settings import Settings
from tests.acceptance.api_support import Api
from tests.integration.cache_wiring_support import serve


@pytest.fixture(params=["memory", "two-tier"])
async def wired(
    request: pytest.FixtureRequest, settings: Settings, redis_url: str, redis_prefix: str
) -> AsyncIterator[tuple[Settings, SmartCache]]:
    """Settings and a cache of each kind (the two-tier one under this test's prefix)."""
    if request.param == "two-tier":
        settings = settings.model_copy(
            update={"redis_url": redis_url, "redis_prefix": redis_prefix}
        )
    cache = build_cache(settings)
    if isinstance(cache.store, TwoTierStore):
        await cache.store.wait_subscribed()
    try:
        yield settings, cache
    finally:
        await cache.close()


@pytest.fixture
async def api(wired: tuple[Settings, SmartCache], db: Database) -> AsyncIterator[Api]:
    async with serve(wired[0], db, wired[1]) as made:
        yield made
