"""Column types behave alike on both backends: UTC timestamps, JSON, integer money."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.session import Database
from stratabase.enums import PostKind, PostStatus
from stratabase.models import Post, User


async def _author(session: AsyncSession) -> User:
    user = User(email="w@example.com", username="writer", name="Writer")
    session.add(user)
    await session.flush()
    return user


async def test_timestamps_come_back_aware_utc_and_json_round_trips(db: Database) -> None:
    cairo = timezone(timedelta(hours=2))
    published = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=cairo)
    blocks = [
        {"type": "heading", "text": "Ünïcode ✓", "level": 2},
        {"type": "list", "items": ["a", "b"], "ordered": True},
    ]

    async def work(session: AsyncSession) -> int:
        author = await _author(session)
        post = Post(
            author_id=author.id,
            kind=PostKind.ARTICLE,
            title="T",
            slug="t",
            content_blocks=blocks,
            status=PostStatus.PUBLISHED,
            published_at=published,
            meta={"nested": {"n": 1, "f": 1.5, "none": None}},
        )
        session.add(post)
        await session.flush()
        return post.id

    post_id = await db.transaction(work)
    async with db.session() as session:
        post = await session.get(Post, post_id)
    assert post is not None
    assert post.published_at == published
    assert post.published_at.tzinfo is not None
    assert post.published_at.utcoffset() == timedelta(0)
    assert post.created_at.tzinfo is not None
    assert abs(post.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert post.content_blocks == blocks
    assert post.meta == {"nested": {"n": 1, "f": 1.5, "none": None}}


async def test_naive_datetime_is_refused(db: Database) -> None:
    async def work(session: AsyncSession) -> None:
        author = await _author(session)
        session.add(
            Post(
                author_id=author.id,
                kind=PostKind.NOTE,
                title="naive",
                slug="naive",
                published_at=datetime(2026, 1, 1, 12, 0),
            )
        )
        await session.flush()

    with pytest.raises(Exception, match="naive datetime"):
        await db.transaction(work)


async def test_big_integer_money_survives(db: Database) -> None:
    from stratabase.enums import AccountKind
    from stratabase.models import LedgerAccount

    big = 9_000_000_000_000_000  # > 2**53: would lose precision as a float

    async def work(session: AsyncSession) -> int:
        account = LedgerAccount(kind=AccountKind.SYSTEM, system_code="treasury", balance=-big)
        session.add(account)
        await session.flush()
        return account.id

    account_id = await db.transaction(work)
    async with db.session() as session:
        account = await session.get(LedgerAccount, account_id)
    assert account is not None and account.balance == -big
