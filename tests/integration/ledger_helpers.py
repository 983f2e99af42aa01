"""Shared by the ledger tests: users to own wallets, and the invariants every test re-checks."""

from __future__ import annotations

import itertools
import uuid

from sqlalchemy import insert, select

from stratabase.db.session import Database
from stratabase.ledger import queries, verify
from stratabase.models.accounts import User
from stratabase.models.ledger import LedgerAccount

_counter = itertools.count()


async def make_users(db: Database, count: int) -> list[int]:
    tag = uuid.uuid4().hex[:8]
    rows = []
    for _ in range(count):
        n = next(_counter)
        rows.append({"email": f"l{tag}{n}@example.com", "username": f"l{tag}{n}"})

    async def work(session):  # type: ignore[no-untyped-def]
        result = await session.execute(insert(User).returning(User.id), rows)
        return [int(i) for i in result.scalars()]

    return await db.transaction(work)


async def assert_books_whole(db: Database) -> None:
    """Every invariant: sum zero, entries = balances, chain, no negative user funds."""
    report = await verify.verify(db)
    assert report.ok, report.violations[:5]
    async with db.session() as session:
        rows = (await session.execute(select(LedgerAccount))).scalars().all()
        totals = await queries.total_balance(session)
    assert sum(a.balance for a in rows) == 0
    assert all(total == 0 for total in totals.values())
    assert all(a.balance - a.pending_debits >= 0 for a in rows if a.kind == "user")
