"""transaction(): commit, rollback, after-commit hooks, retries, concurrent writers."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from typing import Any

import pytest
from sqlalchemy import event, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db import after_commit
from stratabase.db.session import Database
from stratabase.models import Organization


async def _add_org(session: AsyncSession, slug: str) -> Organization:
    org = Organization(name=slug.title(), slug=slug)
    session.add(org)
    await session.flush()
    return org


async def _org_count(db: Database) -> int:
    async with db.session() as session:
        return int(
            (await session.execute(select(func.count()).select_from(Organization))).scalar_one()
        )


async def test_commit_runs_after_commit_hooks_once(db: Database) -> None:
    ran: list[str] = []

    async def work(session: AsyncSession) -> int:
        org = await _add_org(session, "acme")
        after_commit(session, lambda: ran.append("sync"))

        async def async_hook() -> None:
            ran.append("async")

        after_commit(session, async_hook)
        assert ran == []  # not before the commit
        return org.id

    org_id = await db.transaction(work)
    assert ran == ["sync", "async"]
    async with db.session() as session:
        assert (await session.get(Organization, org_id)) is not None


async def test_error_rolls_back_and_skips_hooks(db: Database) -> None:
    ran: list[str] = []

    async def work(session: AsyncSession) -> None:
        await _add_org(session, "doomed")
        after_commit(session, lambda: ran.append("hook"))
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await db.transaction(work)
    assert ran == []
    assert await _org_count(db) == 0


async def test_failing_hook_does_not_undo_the_commit(db: Database) -> None:
    def bad_hook() -> None:
        raise RuntimeError("cache down")

    async def work(session: AsyncSession) -> None:
        await _add_org(session, "kept")
        after_commit(session, bad_hook)

    await db.transaction(work)
    assert await _org_count(db) == 1


async def test_concurrent_read_modify_write_loses_no_update(db: Database) -> None:
    """50 tasks each read the quota and write it back + 1, in one process: none is lost."""
    org_id = (await db.transaction(lambda s: _add_org(s, "counter"))).id

    async def increment(session: AsyncSession) -> None:
        if db.backend == "postgres":
            await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        org = await session.get(Organization, org_id)
        assert org is not None
        await asyncio.sleep(0)  # let other tasks interleave between read and write
        org.token_quota = org.token_quota + 1

    await asyncio.gather(*(db.transaction(increment, retries=50) for _ in range(50)))
    async with db.session() as session:
        org = await session.get(Organization, org_id)
        assert org is not None and org.token_quota == 50


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_serialization_failure_is_retried(db: Database) -> None:
    """Two REPEATABLE READ transactions update the same row: the loser is re-run."""
    org_id = (await db.transaction(lambda s: _add_org(s, "race"))).id
    both_read = asyncio.Barrier(2)
    attempts = 0

    async def work(session: AsyncSession) -> None:
        nonlocal attempts
        attempts += 1
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        quota = (
            await session.execute(select(Organization.token_quota).where(Organization.id == org_id))
        ).scalar_one()
        if attempts <= 2:
            await both_read.wait()
        await session.execute(
            update(Organization).where(Organization.id == org_id).values(token_quota=quota + 1)
        )

    await asyncio.gather(db.transaction(work), db.transaction(work))
    assert attempts == 3  # one of the two was retried once
    async with db.session() as session:
        assert (await session.get(Organization, org_id)).token_quota == 2  # type: ignore[union-attr]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_sqlite_writer_waits_for_another_connection(db: Database) -> None:
    """A second connection (another process, say) holds the write lock: we wait, not fail."""
    path = db.settings.database_url.removeprefix("sqlite:///")
    locked = threading.Event()
    attempting = threading.Event()  # our BEGIN IMMEDIATE is about to run

    def hold_write_lock() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute(
            "INSERT INTO organizations (name, slug, plan, token_quota)"
            " VALUES ('First', 'first', 'free', 0)"
        )
        locked.set()
        attempting.wait(60)  # hold the lock until we are trying to take it
        other.execute("COMMIT")
        other.close()

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            attempting.set()

    event.listen(db.engine.sync_engine, "before_cursor_execute", on_statement)
    holder = threading.Thread(target=hold_write_lock)
    holder.start()
    await asyncio.to_thread(locked.wait, 60)

    async def work(session: AsyncSession) -> int:
        # we got in only once the other connection committed: its row is already there
        seen = (await session.execute(select(func.count()).select_from(Organization))).scalar()
        await _add_org(session, "patient")
        return int(seen or 0)

    try:
        assert await db.transaction(work) == 1
    finally:
        attempting.set()
        await asyncio.to_thread(holder.join, 60)
        event.remove(db.engine.sync_engine, "before_cursor_execute", on_statement)
    assert await _org_count(db) == 2


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_nested_sqlite_write_transaction_is_refused(db: Database) -> None:
    async def outer(session: AsyncSession) -> None:
        await db.transaction(lambda inner: _add_org(inner, "inner"))

    with pytest.raises(RuntimeError, match="nested write transaction"):
        await db.transaction(outer)
