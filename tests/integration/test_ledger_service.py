"""The ledger's guarantees, one by one, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import TransferStatus
from stratabase.exceptions import (
    Conflict,
    InsufficientFunds,
    InvalidInput,
    InvariantViolation,
    NotFound,
)
from stratabase.ledger import queries
from stratabase.ledger.movements import Movement
from stratabase.ledger.service import LedgerService
from stratabase.ledger.values import SystemAccount, WalletChange
from stratabase.models.ledger import LedgerAccount, LedgerEntry, LedgerTransfer
from tests.integration.ledger_helpers import assert_books_whole, make_users


@pytest.fixture
def changes() -> list[WalletChange]:
    return []


@pytest.fixture
def ledger(db: Database, changes: list[WalletChange]) -> LedgerService:
    return LedgerService(db, hooks=[changes.append])


async def _counts(db: Database) -> tuple[int, int]:
    async with db.session() as session:
        transfers = await session.scalar(select(func.count()).select_from(LedgerTransfer))
        entries = await session.scalar(select(func.count()).select_from(LedgerEntry))
    return int(transfers or 0), int(entries or 0)


async def test_mint_transfer_deduct_is_double_entry(db: Database, ledger: LedgerService) -> None:
    alice, bob = await make_users(db, 2)
    minted = await ledger.credit(alice, 500, reason="welcome bonus")
    sent = await ledger.transfer(alice, bob, 120, reason="tip", reference=("post", "42"))
    spent = await ledger.deduct(bob, 20, reason="ai generation", reference=("generation", "7"))

    assert (await ledger.wallet(alice)).balance == 380
    bob_wallet = await ledger.wallet(bob)
    assert (bob_wallet.balance, bob_wallet.earned_total, bob_wallet.spent_total) == (100, 120, 20)
    treasury = await ledger.account(await ledger.system_account(SystemAccount.TREASURY))
    fees = await ledger.account(await ledger.system_account(SystemAccount.FEES))
    assert (treasury.balance, fees.balance) == (-500, 20)
    assert sent.reference_type == "post" and sent.reference_id == "42"
    assert minted.id < sent.id < spent.id
    async with db.session() as session:
        per_transfer = await session.execute(
            select(LedgerEntry.transfer_id, func.sum(LedgerEntry.amount), func.count()).group_by(
                LedgerEntry.transfer_id
            )
        )
        assert {(tid, total, n) for tid, total, n in per_transfer} == {
            (minted.id, 0, 2),
            (sent.id, 0, 2),
            (spent.id, 0, 2),
        }
    await assert_books_whole(db)


async def test_overdraft_is_refused_and_writes_nothing(
    db: Database, ledger: LedgerService, changes: list[WalletChange]
) -> None:
    alice, bob = await make_users(db, 2)
    await ledger.credit(alice, 50, reason="seed")
    before = await _counts(db)
    hooks_before = len(changes)
    with pytest.raises(InsufficientFunds):
        await ledger.transfer(alice, bob, 51, reason="too much")
    with pytest.raises(InsufficientFunds):
        await ledger.deduct(bob, 1, reason="nothing there")
    assert await _counts(db) == before
    assert len(changes) == hooks_before, "no hook for a refused write"
    assert (await ledger.wallet(alice)).balance == 50
    await assert_books_whole(db)


async def test_check_constraint_is_the_backstop(db: Database) -> None:
    """Even a write that skips the service cannot take a user balance below zero."""
    from sqlalchemy import update

    ledger = LedgerService(db)
    (alice,) = await make_users(db, 1)
    wallet = await ledger.wallet_account(alice)

    async def overdraw(session):  # type: ignore[no-untyped-def]
        await session.execute(
            update(LedgerAccount).where(LedgerAccount.id == wallet).values(balance=-1)
        )

    with pytest.raises(InvariantViolation) as caught:
        await db.transaction(overdraw)
    assert caught.value.constraint in {
        "ck_ledger_accounts_balance_nonneg",
        "ck_ledger_accounts_available_nonneg",
    }


async def test_bad_requests_are_refused_clearly(db: Database, ledger: LedgerService) -> None:
    alice, bob = await make_users(db, 2)
    await ledger.credit(alice, 10, reason="seed")
    with pytest.raises(InvalidInput, match="positive integer"):
        await ledger.transfer(alice, bob, 0)
    with pytest.raises(InvalidInput, match="positive integer"):
        await ledger.transfer(alice, bob, 1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="yourself"):
        await ledger.transfer(alice, alice, 1)
    with pytest.raises(NotFound, match="user 999999"):
        await ledger.transfer(alice, 999_999, 1)
    with pytest.raises(NotFound):
        await ledger.transfer_accounts(await ledger.wallet_account(alice), 999_999, 1)
    usd = await ledger.wallet_account(bob, "USD")
    with pytest.raises(InvalidInput, match="does not hold TOK"):
        await ledger.transfer_accounts(await ledger.wallet_account(alice), usd, 1)
    await assert_books_whole(db)


async def test_idempotency_same_key_same_body_returns_original(
    db: Database, ledger: LedgerService
) -> None:
    alice, bob = await make_users(db, 2)
    await ledger.credit(alice, 100, reason="seed")
    first = await ledger.transfer(alice, bob, 30, reason="tip", key="tip-1")
    again = await ledger.transfer(alice, bob, 30, reason="tip", key="tip-1")
    assert not first.replayed and again.replayed
    assert again.id == first.id
    assert (await ledger.wallet(alice)).balance == 70, "moved once"
    with pytest.raises(Conflict, match="different request"):
        await ledger.transfer(alice, bob, 31, reason="tip", key="tip-1")
    with pytest.raises(Conflict, match="different request"):
        await ledger.deduct(alice, 30, reason="tip", key="tip-1")
    assert (await ledger.wallet(alice)).balance == 70
    await assert_books_whole(db)


async def test_concurrent_retries_of_one_key_move_once(db: Database, ledger: LedgerService) -> None:
    import asyncio

    alice, bob = await make_users(db, 2)
    await ledger.credit(alice, 100, reason="seed")
    results = await asyncio.gather(
        *(ledger.transfer(alice, bob, 10, reason="x", key="same") for _ in range(8))
    )
    assert len({r.id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert (await ledger.wallet(bob)).balance == 10
    await assert_books_whole(db)


async def test_hold_then_post_part(db: Database, ledger: LedgerService) -> None:
    (alice,) = await make_users(db, 1)
    await ledger.credit(alice, 100, reason="seed")
    wallet = await ledger.wallet_account(alice)
    fees = await ledger.system_account(SystemAccount.FEES)
    hold = await ledger.hold(wallet, fees, 60, reason="generation", reference=("job", "9"))
    assert hold.status == TransferStatus.PENDING
    held = await ledger.wallet(alice)
    assert (held.balance, held.pending, held.available) == (100, 60, 40)
    async with db.session() as session:
        assert [h.id for h in await queries.open_holds(session, wallet)] == [hold.id]
    with pytest.raises(InsufficientFunds):
        await ledger.deduct(alice, 41, reason="more than available")
    with pytest.raises(InvalidInput, match="reserves only 60"):
        await ledger.post(hold.id, amount=61)
    posted = await ledger.post(hold.id, amount=45, key="post-1")
    assert posted.pending_id == hold.id and posted.amount == 45
    assert (await ledger.post(hold.id, amount=45, key="post-1")).replayed
    after = await ledger.wallet(alice)
    assert (after.balance, after.pending, after.available) == (55, 0, 55)
    assert (await ledger.get_transfer(hold.id)).status == TransferStatus.POSTED
    with pytest.raises(Conflict, match="already posted"):
        await ledger.post(hold.id)
    with pytest.raises(Conflict, match="already posted"):
        await ledger.void(hold.id)
    await assert_books_whole(db)


async def test_hold_void_and_expiry_release_funds(db: Database, ledger: LedgerService) -> None:
    (alice,) = await make_users(db, 1)
    await ledger.credit(alice, 100, reason="seed")
    wallet = await ledger.wallet_account(alice)
    fees = await ledger.system_account(SystemAccount.FEES)
    voided = await ledger.hold(wallet, fees, 30, reason="a")
    short = await ledger.hold(wallet, fees, 50, reason="b", expires_in=timedelta(seconds=60))
    with pytest.raises(InsufficientFunds):
        await ledger.hold(wallet, fees, 21, reason="c")
    assert (await ledger.void(voided.id)).status == TransferStatus.VOIDED
    assert (await ledger.void(voided.id)).status == TransferStatus.VOIDED  # again: no-op
    assert (await ledger.wallet(alice)).pending == 50
    assert await ledger.expire_holds(now=utcnow()) == 0, "not yet due"
    assert await ledger.expire_holds(now=utcnow() + timedelta(seconds=61)) == 1
    assert (await ledger.get_transfer(short.id)).status == TransferStatus.EXPIRED
    summary = await ledger.wallet(alice)
    assert (summary.balance, summary.pending) == (100, 0)
    with pytest.raises(Conflict, match="already expired"):
        await ledger.post(short.id)
    await assert_books_whole(db)


async def test_posting_an_overdue_hold_expires_it(db: Database, ledger: LedgerService) -> None:
    from sqlalchemy import update

    (alice,) = await make_users(db, 1)
    await ledger.credit(alice, 100, reason="seed")
    wallet = await ledger.wallet_account(alice)
    fees = await ledger.system_account(SystemAccount.FEES)
    hold = await ledger.hold(wallet, fees, 70, reason="late")

    async def backdate(session):  # type: ignore[no-untyped-def]
        await session.execute(
            update(LedgerTransfer)
            .where(LedgerTransfer.id == hold.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )

    await db.transaction(backdate)
    with pytest.raises(Conflict, match="expired"):
        await ledger.post(hold.id)
    assert (await ledger.get_transfer(hold.id)).status == TransferStatus.EXPIRED
    assert (await ledger.wallet(alice)).pending == 0
    await assert_books_whole(db)


async def test_linked_transfers_are_all_or_nothing(db: Database, ledger: LedgerService) -> None:
    alice, bob, carol = await make_users(db, 3)
    await ledger.credit(alice, 100, reason="seed")
    a, b, c = [await ledger.wallet_account(u) for u in (alice, bob, carol)]
    before = await _counts(db)
    doomed = [Movement(a, b, 60, "TOK", "split 1"), Movement(b, c, 61, "TOK", "split 2")]
    with pytest.raises(InsufficientFunds):
        await ledger.transfer_linked(doomed)
    assert await _counts(db) == before
    assert (await ledger.wallet(alice)).balance == 100

    batch = [Movement(a, b, 60, "TOK", "split 1"), Movement(b, c, 50, "TOK", "split 2")]
    done = await ledger.transfer_linked(batch, key="split")
    assert [t.linked_id for t in done] == [done[0].id, done[0].id]
    again = await ledger.transfer_linked(batch, key="split")
    assert [t.id for t in again] == [t.id for t in done] and all(t.replayed for t in again)
    balances = [(await ledger.wallet(u)).balance for u in (alice, bob, carol)]
    assert balances == [40, 10, 50]
    with pytest.raises(Conflict):
        await ledger.transfer_linked(batch[:1], key="split")
    await assert_books_whole(db)


async def test_reverse_undoes_once(db: Database, ledger: LedgerService) -> None:
    alice, bob = await make_users(db, 2)
    await ledger.credit(alice, 100, reason="seed")
    sent = await ledger.transfer(alice, bob, 40, reason="oops")
    back = await ledger.reverse(sent.id, reason="mistake", key="undo-1")
    assert back.reverses_id == sent.id
    assert (back.debit_account_id, back.credit_account_id) == (
        sent.credit_account_id,
        sent.debit_account_id,
    )
    assert (await ledger.reverse(sent.id, reason="mistake", key="undo-1")).replayed
    with pytest.raises(Conflict, match="already reversed"):
        await ledger.reverse(sent.id)
    assert [(await ledger.wallet(u)).balance for u in (alice, bob)] == [100, 0]
    history = await ledger.history(bob)
    assert [item.amount for item in history.items] == [-40, 40]
    assert history.items[0].reverses_id == sent.id
    await assert_books_whole(db)


async def test_history_is_keyset_paginated(db: Database, ledger: LedgerService) -> None:
    (alice,) = await make_users(db, 1)
    for n in range(7):
        await ledger.credit(alice, n + 1, reason=f"r{n}")
    seen: list[int] = []
    before = None
    while True:
        page = await ledger.history(alice, limit=3, before=before)
        seen.extend(item.amount for item in page.items)
        if page.next_before is None:
            break
        before = page.next_before
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    assert [i.balance_after for i in (await ledger.history(alice, limit=2)).items] == [28, 21]
    with pytest.raises(InvalidInput):
        await ledger.history(alice, limit=0)


async def test_hooks_run_after_commit_with_owners(
    db: Database, ledger: LedgerService, changes: list[WalletChange]
) -> None:
    alice, bob = await make_users(db, 2)
    await ledger.credit(alice, 10, reason="seed")
    sent = await ledger.transfer(alice, bob, 4, reason="x")
    last = changes[-1]
    assert last.kind == "transfer" and last.transfer_ids == (sent.id,)
    assert last.user_ids == tuple(sorted((alice, bob)))
    replayed = len(changes)
    await ledger.transfer(alice, bob, 1, reason="y", key="k")
    await ledger.transfer(alice, bob, 1, reason="y", key="k")
    assert len(changes) == replayed + 1, "a replay changes nothing and announces nothing"


async def test_database_down_is_a_clear_error() -> None:
    from stratabase.exceptions import DatabaseUnavailable
    from stratabase.settings import load_settings

    down = Database(load_settings(database_url="postgresql://postgres@127.0.0.1:1/none"))
    try:
        with pytest.raises(DatabaseUnavailable):
            await LedgerService(down).transfer_accounts(1, 2, 5)
    finally:
        await down.dispose()


async def test_database_down_fails_every_concurrent_batch_clearly() -> None:
    """Transfers on separate accounts go out as two batches at once; with the database
    unreachable each caller gets the error, none is left waiting."""
    from stratabase.exceptions import DatabaseUnavailable
    from stratabase.settings import load_settings

    down = Database(load_settings(database_url="postgresql://postgres@127.0.0.1:1/none"))
    ledger = LedgerService(down)
    try:
        calls = [ledger.transfer_accounts(2 * n + 1, 2 * n + 2, 5) for n in range(8)]
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 60)
        assert all(isinstance(r, DatabaseUnavailable) for r in results), results
        with pytest.raises(DatabaseUnavailable):  # the failed batches freed their accounts
            await asyncio.wait_for(ledger.transfer_accounts(1, 2, 5), 60)
    finally:
        await down.dispose()
