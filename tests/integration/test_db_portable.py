"""stratabase.db.portable: the same statement means the same thing on both backends."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db import portable
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.jobs.queue import rowcount
from stratabase.models import Organization, Tag
from stratabase.models.events import TokenUsageDaily

DAY = date(2026, 11, 1)


async def _until_blocked(db: Database, within: float = 60) -> None:
    """Until a writer waits: on SQLite for the writer lock, on PostgreSQL for a row lock."""
    deadline = time.monotonic() + within
    while True:
        if db.backend == "sqlite":
            waiting = db.engines.waiting
        else:
            async with db.session() as session:
                waiting = (
                    await session.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity"
                            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                        )
                    )
                ).scalar_one()
        if waiting:
            return
        assert time.monotonic() < deadline, f"no writer waited within {within} s"
        await asyncio.sleep(0.01)


async def _tags(db: Database) -> dict[str, str]:
    async with db.session() as session:
        return {slug: name for slug, name in await session.execute(select(Tag.slug, Tag.name))}


async def _org(db: Database, slug: str = "acme") -> int:
    async def work(session: AsyncSession) -> int:
        org = Organization(name=slug.title(), slug=slug, token_quota=100)
        session.add(org)
        await session.flush()
        return org.id

    return await db.transaction(work)


async def _insert_tag(db: Database, slug: str, name: str, **kw: Any) -> int | None:
    async def work(session: AsyncSession) -> int | None:
        statement = portable.insert_or_ignore(session, Tag, {"slug": slug, "name": name}, **kw)
        return (await session.execute(statement.returning(Tag.id))).scalar_one_or_none()

    return await db.transaction(work, retries=0)


async def test_insert_or_ignore_skips_a_taken_key(db: Database) -> None:
    first = await _insert_tag(db, "news", "News", on=["slug"])
    again = await _insert_tag(db, "news", "Other", on=["slug"])
    assert first is not None
    assert again is None  # nothing returned for the skipped row
    assert await _tags(db) == {"news": "News"}  # the stored row is untouched


async def test_insert_or_ignore_without_a_target_skips_any_unique_violation(
    db: Database,
) -> None:
    first = await _insert_tag(db, "news", "News")
    assert first is not None

    async def same_id(session: AsyncSession) -> int:
        row = {"id": first, "slug": "other", "name": "Other"}  # the primary key is taken
        return rowcount(await session.execute(portable.insert_or_ignore(session, Tag, row)))

    assert await db.transaction(same_id) == 0
    assert await _tags(db) == {"news": "News"}


async def test_insert_or_ignore_of_many_rows_inserts_only_the_new_ones(db: Database) -> None:
    await _insert_tag(db, "a", "A")

    async def work(session: AsyncSession) -> int:
        rows = [{"slug": s, "name": s.upper() + "!"} for s in ("a", "b", "c")]
        statement = portable.insert_or_ignore(session, Tag, rows, on=["slug"])
        return rowcount(await session.execute(statement))

    assert await db.transaction(work) == 2
    assert await _tags(db) == {"a": "A", "b": "B!", "c": "C!"}


async def test_concurrent_insert_or_ignore_of_one_key_leaves_one_row_and_no_error(
    db: Database,
) -> None:
    """Many transactions insert the same key at once: one wins, none fails or retries."""
    writers = 8
    barrier = asyncio.Barrier(writers)

    async def one(i: int) -> int | None:
        await barrier.wait()
        return await _insert_tag(db, "race", f"writer {i}", on=["slug"])

    ids = await asyncio.gather(*(one(i) for i in range(writers)))
    assert len([i for i in ids if i is not None]) == 1
    assert list(await _tags(db)) == ["race"]


async def test_a_second_insert_of_an_uncommitted_key_waits_then_skips(db: Database) -> None:
    """The second writer overlaps the first for sure: it waits, then inserts nothing."""
    inserted = asyncio.Event()
    release = asyncio.Event()

    async def first(session: AsyncSession) -> None:
        await session.execute(
            portable.insert_or_ignore(session, Tag, {"slug": "k", "name": "first"}, on=["slug"])
        )
        inserted.set()
        await release.wait()

    holder = asyncio.create_task(db.transaction(first, retries=0))
    await asyncio.wait_for(inserted.wait(), 60)
    second = asyncio.create_task(_insert_tag(db, "k", "second", on=["slug"]))
    await _until_blocked(db)  # PostgreSQL: on the uncommitted index entry; SQLite: writer lock
    assert not second.done()
    release.set()
    await holder
    assert await second is None
    assert await _tags(db) == {"k": "first"}


async def test_upsert_replaces_the_named_columns(db: Database) -> None:
    await _insert_tag(db, "news", "News")

    async def work(session: AsyncSession) -> str:
        statement = portable.upsert(
            session, Tag, {"slug": "news", "name": "Latest"}, on=["slug"], update=["name"]
        )
        return str((await session.execute(statement.returning(Tag.name))).scalar_one())

    assert await db.transaction(work) == "Latest"
    assert await _tags(db) == {"news": "Latest"}


async def test_upsert_combines_the_stored_row_with_the_proposed_one(db: Database) -> None:
    org_id = await _org(db)

    def add(session: AsyncSession, rows: list[dict[str, Any]]) -> Any:
        return portable.upsert(
            session,
            TokenUsageDaily,
            rows,
            on=[TokenUsageDaily.organization_id, TokenUsageDaily.date],
            update=lambda new: {
                "tokens_in": TokenUsageDaily.tokens_in + new.tokens_in,
                "updated_at": new.updated_at,
            },
        )

    def row(tokens: int) -> dict[str, Any]:
        return {
            "organization_id": org_id,
            "date": DAY,
            "tokens_in": tokens,
            "tokens_out": 0,
            "cost_minor": 0,
            "updated_at": utcnow(),
        }

    async def first(session: AsyncSession) -> None:
        await session.execute(add(session, [row(5)]))

    async def second(session: AsyncSession) -> None:
        await session.execute(add(session, [row(7)]))

    await db.transaction(first)  # no row yet: inserted as proposed
    await db.transaction(second)
    async with db.session() as session:
        total = await session.scalar(select(TokenUsageDaily.tokens_in))
    assert total == 12


async def test_concurrent_upserts_of_one_key_all_count(db: Database) -> None:
    org_id = await _org(db)
    writers = 10
    barrier = asyncio.Barrier(writers)

    async def work(session: AsyncSession) -> None:
        values = {
            "organization_id": org_id,
            "date": DAY,
            "tokens_in": 1,
            "tokens_out": 0,
            "cost_minor": 0,
            "updated_at": utcnow(),
        }
        await session.execute(
            portable.upsert(
                session,
                TokenUsageDaily,
                values,
                on=[TokenUsageDaily.organization_id, TokenUsageDaily.date],
                update=lambda new: {"tokens_in": TokenUsageDaily.tokens_in + new.tokens_in},
            )
        )

    async def one() -> None:
        await barrier.wait()
        await db.transaction(work, retries=0)

    await asyncio.gather(*(one() for _ in range(writers)))
    async with db.session() as session:
        rows = (await session.execute(select(TokenUsageDaily.tokens_in))).scalars().all()
    assert rows == [writers]


async def test_locked_rows_make_a_second_writer_wait_for_the_commit(db: Database) -> None:
    """Rows locked in id order stay the holder's until it commits; the waiter sees its write."""
    a, b = await _org(db, "a"), await _org(db, "b")
    organizations = Organization.__table__
    locked = asyncio.Event()
    release = asyncio.Event()

    async def holder(session: AsyncSession) -> None:
        await portable.lock_rows_in_id_order(session, organizations, [b, a])
        locked.set()
        await release.wait()
        await session.execute(
            update(Organization).where(Organization.id == a).values(token_quota=1)
        )

    async def waiter(session: AsyncSession) -> int:
        await portable.lock_rows_in_id_order(session, organizations, [a])
        query = select(Organization.token_quota).where(Organization.id == a)
        return int((await session.execute(query)).scalar_one())

    first = asyncio.create_task(db.transaction(holder, retries=0))
    await asyncio.wait_for(locked.wait(), 60)
    second = asyncio.create_task(db.transaction(waiter, retries=0))
    await _until_blocked(db)
    assert not second.done()
    release.set()
    await first
    assert await second == 1  # it read the holder's committed write, not the old 100


async def test_skip_locked_leaves_out_rows_another_writer_holds(db: Database) -> None:
    a, b = await _org(db, "a"), await _org(db, "b")
    locked = asyncio.Event()
    release = asyncio.Event()

    async def holder(session: AsyncSession) -> None:
        await session.execute(portable.lock(select(Organization.id).where(Organization.id == a)))
        locked.set()
        await release.wait()

    async def others(session: AsyncSession) -> list[int]:
        query = portable.lock(
            select(Organization.id).order_by(Organization.id), skip_locked=True, key_share=True
        )
        return list((await session.execute(query)).scalars())

    first = asyncio.create_task(db.transaction(holder, retries=0))
    try:
        await asyncio.wait_for(locked.wait(), 60)
        if db.backend == "postgres":
            assert await db.transaction(others, retries=0) == [b]
    finally:
        release.set()
        await first
    # SQLite has no row locks: its writer lock serialised the holder with everyone.
    assert await db.transaction(others) == [a, b]


async def test_repeatable_read_reads_one_snapshot(db: Database) -> None:
    await _org(db, "a")

    async def count(session: AsyncSession) -> int:
        return int(
            (await session.execute(select(func.count()).select_from(Organization))).scalar_one()
        )

    async with db.begin(write=False) as session:
        await portable.repeatable_read(session)
        before = await count(session)
        await _org(db, "b")  # committed by another transaction meanwhile
        assert await count(session) == before == 1
    async with db.session() as session:
        assert await count(session) == 2


async def test_id_in_matches_the_listed_ids(db: Database) -> None:
    ids = [await _org(db, slug) for slug in ("a", "b", "c")]
    async with db.session() as session:
        found = await session.execute(
            select(Organization.id)
            .where(portable.id_in(session, Organization.id, [ids[0], ids[2]]))
            .order_by(Organization.id)
        )
        assert list(found.scalars()) == [ids[0], ids[2]]
        none = await session.execute(
            select(Organization.id).where(portable.id_in(session, Organization.id, []))
        )
        assert list(none.scalars()) == []
