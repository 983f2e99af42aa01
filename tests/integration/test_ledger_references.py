"""The ledger's references hold on both backends: declared keys on SQLite, set-based
triggers on PostgreSQL (migration 0005). Each test writes around the service, as a bug or a
hand-written statement would, and checks the database refuses and keeps what it had."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.exceptions import Conflict, InvariantViolation, NotFound
from stratabase.ledger.service import LedgerService
from stratabase.models.ledger import LedgerAccount, LedgerEntry, LedgerTransfer
from tests.integration.ledger_helpers import assert_books_whole, make_users


@pytest.fixture
def ledger(db: Database) -> LedgerService:
    return LedgerService(db)


async def _count(db: Database, model: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _funded_pair(db: Database, ledger: LedgerService) -> tuple[int, int, int]:
    """Two wallets and one transfer of 40 between them; returns (debit, credit, transfer)."""
    alice, bob = await make_users(db, 2)
    await ledger.credit(alice, 100, reason="seed")
    sent = await ledger.transfer(alice, bob, 40, reason="tip")
    return sent.debit_account_id, sent.credit_account_id, sent.id


def _entry(transfer_id: int, account_id: int, amount: int) -> dict[str, Any]:
    return {
        "transfer_id": transfer_id,
        "account_id": account_id,
        "amount": amount,
        "balance_after": 0,
        "created_at": utcnow(),
    }


async def _insert_entries(db: Database, rows: list[dict[str, Any]]) -> None:
    async def work(session: AsyncSession) -> None:
        await session.execute(insert(LedgerEntry), rows)

    await db.transaction(work)


async def test_an_entry_must_sit_on_its_transfers_side_for_its_amount(
    db: Database, ledger: LedgerService
) -> None:
    debit, credit, transfer = await _funded_pair(db, ledger)
    stranger = await ledger.wallet_account((await make_users(db, 1))[0])
    entries_before = await _count(db, LedgerEntry)

    wrong = [
        _entry(transfer, stranger, 40),  # an account the transfer does not touch
        _entry(transfer, debit, 40),  # the debit account credited
        _entry(transfer, credit, 41),  # the right side, another amount
    ]
    for row in wrong:
        with pytest.raises(InvariantViolation) as refused:
            await _insert_entries(db, [_entry(transfer, credit, 40), row])
        assert refused.value.constraint == "ck_ledger_entries_side_of_transfer"
    with pytest.raises(NotFound):
        await _insert_entries(db, [_entry(transfer + 1_000_000, credit, 40)])

    assert await _count(db, LedgerEntry) == entries_before  # nothing half-written
    await assert_books_whole(db)


async def test_a_transfer_must_name_accounts_and_transfers_that_exist(
    db: Database, ledger: LedgerService
) -> None:
    debit, credit, transfer = await _funded_pair(db, ledger)
    transfers_before = await _count(db, LedgerTransfer)
    good = {
        "debit_account_id": debit,
        "credit_account_id": credit,
        "amount": 1,
        "currency": "TOK",
        "status": "pending",
        "reason": "hand-written",
        "created_at": utcnow(),
    }
    missing = 10_000_000
    for change in (
        {"debit_account_id": missing},
        {"credit_account_id": missing},
        {"pending_id": missing},
        {"reverses_id": missing},
    ):

        async def work(session: AsyncSession, change: dict[str, Any] = change) -> None:
            await session.execute(insert(LedgerTransfer), [good, {**good, **change}])

        with pytest.raises(NotFound):
            await db.transaction(work)
    assert await _count(db, LedgerTransfer) == transfers_before

    async def linked(session: AsyncSession) -> None:  # existing links are accepted
        await session.execute(insert(LedgerTransfer), [{**good, "pending_id": transfer}])

    await db.transaction(linked)
    assert await _count(db, LedgerTransfer) == transfers_before + 1


async def test_references_of_posted_rows_cannot_change(db: Database, ledger: LedgerService) -> None:
    debit, credit, transfer = await _funded_pair(db, ledger)
    stranger = await ledger.wallet_account((await make_users(db, 1))[0])

    attempts = (
        update(LedgerTransfer).where(LedgerTransfer.id == transfer).values(amount=1),
        update(LedgerTransfer)
        .where(LedgerTransfer.id == transfer)
        .values(credit_account_id=stranger),
        update(LedgerEntry).where(LedgerEntry.transfer_id == transfer).values(amount=-1),
        update(LedgerEntry).where(LedgerEntry.account_id == credit).values(account_id=stranger),
    )
    for statement in attempts:

        async def work(session: AsyncSession, statement: Any = statement) -> None:
            await session.execute(statement)

        with pytest.raises(InvariantViolation) as refused:
            await db.transaction(work)
        assert str(refused.value.constraint).endswith("_references_fixed")

    async def harmless(session: AsyncSession) -> None:  # other columns may change
        await session.execute(
            update(LedgerTransfer).where(LedgerTransfer.id == transfer).values(reason="tip!")
        )

    await db.transaction(harmless)
    sent = await ledger.get_transfer(transfer)
    assert (sent.debit_account_id, sent.credit_account_id, sent.amount) == (debit, credit, 40)
    await assert_books_whole(db)


async def test_referenced_accounts_and_transfers_cannot_be_deleted(
    db: Database, ledger: LedgerService
) -> None:
    debit, _credit, transfer = await _funded_pair(db, ledger)

    async def drop_account(session: AsyncSession) -> None:
        await session.execute(delete(LedgerAccount).where(LedgerAccount.id == debit))

    async def drop_transfer(session: AsyncSession) -> None:
        await session.execute(delete(LedgerTransfer).where(LedgerTransfer.id == transfer))

    for work in (drop_account, drop_transfer):
        with pytest.raises(Conflict):
            await db.transaction(work)
    assert (await ledger.account(debit)).balance == 60
    assert (await ledger.get_transfer(transfer)).amount == 40

    unused = await ledger.wallet_account((await make_users(db, 1))[0])

    async def drop_unused(session: AsyncSession) -> None:
        await session.execute(delete(LedgerAccount).where(LedgerAccount.id == unused))

    await db.transaction(drop_unused)  # nothing refers to it: the delete goes through
    with pytest.raises(NotFound):
        await ledger.account(unused)
    await assert_books_whole(db)


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


async def test_an_account_cannot_be_deleted_under_a_transfer_in_flight(
    db: Database, ledger: LedgerService
) -> None:
    """A delete racing an uncommitted transfer that names the account waits, then fails."""
    debit, _credit, _transfer = await _funded_pair(db, ledger)
    target = await ledger.wallet_account((await make_users(db, 1))[0])
    inserted = asyncio.Event()
    release = asyncio.Event()

    async def hold_open(session: AsyncSession) -> None:
        await session.execute(
            insert(LedgerTransfer),
            [
                {
                    "debit_account_id": debit,
                    "credit_account_id": target,
                    "amount": 1,
                    "currency": "TOK",
                    "status": "pending",
                    "reason": "in flight",
                    "created_at": utcnow(),
                }
            ],
        )
        inserted.set()
        await release.wait()

    async def delete_target() -> None:
        await inserted.wait()

        async def work(session: AsyncSession) -> None:
            await session.execute(delete(LedgerAccount).where(LedgerAccount.id == target))

        await db.transaction(work)

    writer = asyncio.create_task(db.transaction(hold_open))
    deleter = asyncio.create_task(delete_target())
    await inserted.wait()
    await _until_blocked(db)  # the delete is now waiting on the transfer's transaction
    assert not deleter.done()
    release.set()
    await writer
    with pytest.raises(Conflict):
        await deleter
    assert (await ledger.account(target)).balance == 0


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite has no batch function
async def test_the_batch_functions_trust_ends_with_its_call(
    db: Database, ledger: LedgerService
) -> None:
    """The batch function skips the insert checks for its own rows (migration 0006); in the
    same transaction, right after it, a hand-written wrong entry is still refused."""
    debit, credit, transfer = await _funded_pair(db, ledger)
    call = text(
        "SELECT status, transfer_id FROM sb_ledger_transfers("
        " ARRAY[:debit]::bigint[], ARRAY[:credit]::bigint[], ARRAY[5]::bigint[],"
        " ARRAY['TOK'], ARRAY['batch'], ARRAY[NULL], ARRAY[NULL], ARRAY[NULL], ARRAY[NULL],"
        " ARRAY[NULL])"
    )
    entries_before = await _count(db, LedgerEntry)

    async def batch_then_wrong_entry(session: AsyncSession) -> None:
        status, _moved = (await session.execute(call, {"debit": debit, "credit": credit})).one()
        assert status == "ok"
        setting = text("SELECT current_setting('stratabase.ledger_batch', true)")
        assert await session.scalar(setting) in (None, "", "off")
        await session.execute(insert(LedgerEntry), [_entry(transfer, debit, 40)])

    with pytest.raises(InvariantViolation) as refused:
        await db.transaction(batch_then_wrong_entry)
    assert refused.value.constraint == "ck_ledger_entries_side_of_transfer"
    assert await _count(db, LedgerEntry) == entries_before  # the batch rolled back with it

    moved = await ledger.transfer_accounts(debit, credit, 5, reason="batch")  # the batch path
    assert moved.amount == 5
    assert await _count(db, LedgerEntry) == entries_before + 2
    await assert_books_whole(db)
