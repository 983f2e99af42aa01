"""How PostgreSQL's transfer batcher shares the database between concurrent callers: two
batches fly at once only when they lock no account in common, and every caller gets its
own answer whichever batch carried it."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import pytest

from stratabase.db.session import Database
from stratabase.ledger.postgres import TransferBatcher
from stratabase.ledger.service import LedgerService
from tests.integration.ledger_helpers import assert_books_whole, make_users

pytestmark = pytest.mark.parametrize("backend", ["postgres"])  # the batcher is PostgreSQL's

CLIENTS = 8
ROUNDS = 25


class _Watched(TransferBatcher):
    """Records the accounts of every batch in flight, and the most in flight at once."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.flying: list[frozenset[int]] = []
        self.overlaps: list[tuple[frozenset[int], frozenset[int]]] = []
        self.most = 0

    async def _call(self, raw: Any, batch: list[Any]) -> list[Any]:
        accounts = frozenset(
            a for r in batch for a in (r.movement.debit_account_id, r.movement.credit_account_id)
        )
        self.overlaps += [(accounts, other) for other in self.flying if other & accounts]
        self.flying.append(accounts)
        self.most = max(self.most, len(self.flying))
        try:
            return await super()._call(raw, batch)
        finally:
            self.flying.remove(accounts)


async def _wallets(db: Database, ledger: LedgerService, count: int, funds: int) -> list[int]:
    users = await make_users(db, count)
    for user in users:
        await ledger.credit(user, funds, reason="seed")
    return [await ledger.wallet_account(u) for u in users]


def _pair(rng: random.Random, wallets: list[int]) -> tuple[int, int]:
    debit, credit = rng.sample(wallets, 2)
    return debit, credit


async def _run(ledger: LedgerService, pairs: list[list[tuple[int, int]]]) -> Counter[int]:
    """Client ``n`` moves 1 token along each pair of ``pairs[n]`` in turn; net per account."""
    moved: Counter[int] = Counter()

    async def client(route: list[tuple[int, int]]) -> None:
        for debit, credit in route:
            await ledger.transfer_accounts(debit, credit, 1, reason="batched")
            moved[debit] -= 1
            moved[credit] += 1

    await asyncio.gather(*(client(route) for route in pairs))
    return moved


async def test_batches_sharing_an_account_never_fly_together(db: Database) -> None:
    """Two groups of clients on wallets of their own, so their batches fly together; then
    random pairs across all the wallets, so a batch that shares an account with the one in
    flight must wait for it."""
    ledger = LedgerService(db)
    batcher = ledger._batcher = _Watched(db)
    hot = await _wallets(db, ledger, 8, funds=10_000)
    rng = random.Random(6)
    routes = [
        [_pair(rng, hot[:4] if n < 4 else hot[4:]) for _ in range(ROUNDS)]
        + [_pair(rng, hot) for _ in range(ROUNDS)]
        for n in range(CLIENTS)
    ]

    moved = await _run(ledger, routes)

    assert sum(abs(n) for n in moved.values()) > 0
    assert batcher.most == 2  # the halves of some batches did fly together
    assert batcher.overlaps == []
    for account in hot:
        assert (await ledger.account(account)).balance == 10_000 + moved[account]
    await assert_books_whole(db)


async def test_batches_on_separate_accounts_fly_together(db: Database) -> None:
    ledger = LedgerService(db)
    batcher = ledger._batcher = _Watched(db)
    wallets = await _wallets(db, ledger, 2 * CLIENTS, funds=ROUNDS)
    pairs = list(zip(wallets[::2], wallets[1::2], strict=True))  # accounts of its own

    await _run(ledger, [[pair] * ROUNDS for pair in pairs])

    assert batcher.most == 2  # two halves in flight at once, never more
    assert batcher.overlaps == []
    for debit, credit in pairs:
        assert (await ledger.account(debit)).balance == 0
        assert (await ledger.account(credit)).balance == 2 * ROUNDS
    await assert_books_whole(db)


async def test_a_caller_cancelled_while_its_batch_waits_sends_nothing(db: Database) -> None:
    """A transfer queued behind a batch that holds its accounts, then cancelled, is never
    sent; the others queued with it still are."""
    ledger = LedgerService(db)
    batcher = ledger._batcher = _Watched(db)
    a, b, c = await _wallets(db, ledger, 3, funds=100)
    first = asyncio.create_task(ledger.transfer_accounts(a, b, 10, reason="first"))
    await asyncio.sleep(0)  # the first batch is taken: it alone is in flight
    queued = [
        asyncio.create_task(ledger.transfer_accounts(a, c, 1, reason=f"queued {n}"))
        for n in range(3)
    ]
    await asyncio.sleep(0)
    queued[1].cancel()

    await first
    results = await asyncio.gather(*queued, return_exceptions=True)

    assert isinstance(results[1], asyncio.CancelledError)
    assert [r.reason for r in (results[0], results[2])] == ["queued 0", "queued 2"]  # type: ignore[union-attr]
    assert (await ledger.account(a)).balance == 100 - 10 - 2
    assert (await ledger.account(c)).balance == 100 + 2
    assert batcher.overlaps == []
    await assert_books_whole(db)
