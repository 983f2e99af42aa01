"""Invalidation tied to the transaction: after commit only, never for a rollback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.cache import SmartCache, invalidate_tags_after_commit, memory_cache, two_tier_cache
from stratabase.cache.keys import tag_category
from stratabase.cache.two_tier import TwoTierStore
from stratabase.db.session import Database
from stratabase.models import Organization


@pytest.fixture(params=("memory", "two-tier"))
async def cache(
    request: pytest.FixtureRequest, redis_url: str, redis_prefix: str
) -> AsyncIterator[SmartCache]:
    if request.param == "memory":
        made = memory_cache()
    else:
        made = two_tier_cache(redis_url, redis_prefix)
        assert isinstance(made.store, TwoTierStore)
        await made.store.wait_subscribed()
    yield made
    await made.close()


async def _new_org(db: Database) -> int:
    async def work(session: AsyncSession) -> int:
        org = Organization(name="before", slug="acme")
        session.add(org)
        await session.flush()
        return org.id

    return await db.transaction(work)


def _loader(db: Database, org_id: int):  # type: ignore[no-untyped-def]
    async def load() -> str:
        async with db.session() as session:
            org = await session.get(Organization, org_id)
            assert org is not None
            return org.name

    return load


async def _rename(session: AsyncSession, org_id: int, name: str) -> None:
    await session.execute(update(Organization).where(Organization.id == org_id).values(name=name))


async def test_invalidation_runs_only_after_commit(db: Database, cache: SmartCache) -> None:
    org_id = await _new_org(db)
    key, tags = f"profile:org:{org_id}", [tag_category(org_id)]
    assert await cache.get_or_load(key, _loader(db, org_id), tags=tags) == "before"

    async def work(session: AsyncSession) -> None:
        await _rename(session, org_id, "after")
        invalidate_tags_after_commit(session, cache, tags)
        assert await cache.get(key) == "before"  # registered, not run: nothing committed yet

    await db.transaction(work)
    assert await cache.get(key) is None
    assert await cache.get_or_load(key, _loader(db, org_id), tags=tags) == "after"


async def test_rolled_back_invalidation_never_runs(db: Database, cache: SmartCache) -> None:
    org_id = await _new_org(db)
    key, tags = f"profile:org:{org_id}", [tag_category(org_id)]
    await cache.get_or_load(key, _loader(db, org_id), tags=tags)

    async def work(session: AsyncSession) -> None:
        await _rename(session, org_id, "never")
        invalidate_tags_after_commit(session, cache, tags)
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await db.transaction(work)
    assert await cache.get(key) == "before"  # still cached: no invalidation ran
    assert await _loader(db, org_id)() == "before"  # and the database agrees


async def test_reads_inside_an_uncommitted_transaction_never_fill(
    db: Database, cache: SmartCache
) -> None:
    org_id = await _new_org(db)
    key = f"profile:org:{org_id}"

    async def read_own_write(session: AsyncSession) -> str:
        org = await session.get(Organization, org_id)
        assert org is not None
        return org.name

    with pytest.raises(RuntimeError):
        async with db.begin() as session:
            await _rename(session, org_id, "uncommitted")
            seen = await cache.get_or_load(key, lambda: read_own_write(session), session=session)
            assert seen == "uncommitted"
            assert await cache.get(key) is None  # returned, not stored
            raise RuntimeError("roll back")
    assert await cache.get_or_load(key, _loader(db, org_id)) == "before"
