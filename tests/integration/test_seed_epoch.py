"""A fresh demo shows activity: the default seed epoch is the start of today (UTC), so the
7-day popular and 3-day trending lists are not empty; a pinned epoch is deterministic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stratabase.db.session import Database
from stratabase.feeds import service as feeds
from stratabase.pagination import CursorCodec
from stratabase.seed import orchestrator
from stratabase.seed.context import start_of_today
from stratabase.seed.digest import content_hash
from stratabase.seed.sizes import SIZES

CODEC = CursorCodec("test-secret")


async def test_default_epoch_fills_popular_and_trending(db: Database) -> None:
    result = await orchestrator.seed(db, size=SIZES["tiny"])
    assert result.extra["epoch"] == start_of_today().isoformat()
    popular = await feeds.popular(db, None, days=7, codec=CODEC, cursor=None, limit=20)
    trending = await feeds.trending(db, None, codec=CODEC, cursor=None, limit=20)
    assert popular.items and trending.items
    week_ago = datetime.now(UTC) - timedelta(days=7)
    assert all(item["published_at"] >= week_ago for item in popular.items)


async def test_switch_theme_takes_todays_epoch_too(db: Database) -> None:
    old = datetime(2026, 1, 1, tzinfo=UTC)
    await orchestrator.seed(db, size=SIZES["tiny"], epoch=old)
    assert not (await feeds.trending(db, None, codec=CODEC, cursor=None, limit=5)).items
    await orchestrator.switch_theme(db, "tech")
    assert (await feeds.trending(db, None, codec=CODEC, cursor=None, limit=5)).items


async def test_same_epoch_and_seed_give_the_same_rows(db: Database) -> None:
    epoch = datetime(2027, 3, 4, tzinfo=UTC)
    await orchestrator.seed(db, size=SIZES["tiny"], seed=7, epoch=epoch)
    async with db.engine.connect() as conn:
        first = await content_hash(conn)
    await orchestrator.reset(db, size=SIZES["tiny"], seed_value=7, epoch=epoch)
    async with db.engine.connect() as conn:
        assert await content_hash(conn) == first
    await orchestrator.reset(db, size=SIZES["tiny"], seed_value=7, epoch=epoch + timedelta(days=1))
    async with db.engine.connect() as conn:
        assert await content_hash(conn) != first
