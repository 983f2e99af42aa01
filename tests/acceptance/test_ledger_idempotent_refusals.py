"""A refused transfer is bound to its Idempotency-Key: a retry gets the same answer.

Before, a 409 (insufficient funds) stored nothing: the same key succeeded once the wallet
was funded, and of two concurrent duplicates one could answer 409 while the other moved
the money. On PostgreSQL these requests go through the transfer batcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from stratabase.db.session import Database
from stratabase.enums import Role
from stratabase.exceptions import InsufficientFunds
from stratabase.ledger.movements import Movement
from stratabase.ledger.service import LedgerService
from stratabase.ledger.values import SystemAccount
from stratabase.settings import Settings
from tests.acceptance.api_support import Actor, Api, assert_problem, make_api
from tests.integration.ledger_helpers import assert_books_whole


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for api in make_api(settings, db):
        yield api


async def _mint(api: Api, admin: Actor, user: Actor, amount: int, key: str) -> None:
    minted = await api.http.post(
        "/v1/wallet/credits",
        json={"user_id": user.id, "amount": amount, "reason": "funds"},
        headers={**admin.headers, "Idempotency-Key": key},
    )
    assert minted.status_code == 201, minted.text


async def test_a_refusal_is_replayed_even_once_the_funds_are_there(api: Api) -> None:
    admin, alice, bob = await api.user(role=Role.ADMIN), await api.user(), await api.user()
    body = {"to_user_id": bob.id, "amount": 50, "reason": "rent"}
    headers = {**alice.headers, "Idempotency-Key": "rent-2026-12"}

    def send(json: dict[str, Any] = body) -> Any:
        return api.http.post("/v1/wallet/transfers", json=json, headers=headers)

    first, twin = await asyncio.gather(send(), send())  # concurrent duplicates, no funds
    refusal = assert_problem(first, 409)
    assert refusal["type"].endswith("/insufficient-funds")
    assert twin.status_code == 409 and twin.json() == refusal

    await _mint(api, admin, alice, 100, "fund-alice-1")
    retry = await send()
    assert retry.status_code == 409 and retry.json() == refusal  # same key, same answer
    other = await send({**body, "amount": 51})
    assert assert_problem(other, 409)["type"].endswith("/conflict")  # key reused elsewhere

    fresh = await api.http.post(
        "/v1/wallet/transfers",
        json=body,
        headers={**alice.headers, "Idempotency-Key": "rent-2026-13"},
    )
    assert fresh.status_code == 201, fresh.text
    balance = (await api.http.get("/v1/wallet", headers=alice.headers)).json()["balance"]
    assert balance == 50  # only the fresh key moved money
    await assert_books_whole(api.db)


async def test_concurrent_duplicates_racing_a_credit_agree(db: Database) -> None:
    """Duplicates queued before and after a credit, all at once: on PostgreSQL one batch in
    this order, on SQLite one transaction after another. The first refusal binds the key,
    so the duplicates after the credit are refused too: never a 409 and a transfer."""
    from tests.integration.ledger_helpers import make_users

    ledger = LedgerService(db)
    alice, bob = await make_users(db, 2)
    source, target = await ledger.wallet_account(alice), await ledger.wallet_account(bob)
    treasury = await ledger.system_account(SystemAccount.TREASURY)

    def duplicate() -> Any:
        return ledger.transfer_accounts(source, target, 10, reason="race", key="race-key-1")

    answers = await asyncio.gather(
        *[duplicate() for _ in range(4)],
        ledger.transfer_accounts(treasury, source, 10, reason="funds", key="race-mint-1"),
        *[duplicate() for _ in range(4)],
        return_exceptions=True,
    )
    refusals = answers[:4] + answers[5:]
    assert all(isinstance(a, InsufficientFunds) for a in refusals), answers
    assert len({(a.message, a.field) for a in refusals}) == 1  # type: ignore[union-attr]
    assert await ledger.balance(alice) == 10 and await ledger.balance(bob) == 0
    await assert_books_whole(db)


async def test_the_library_path_binds_refusals_too(db: Database) -> None:
    from tests.integration.ledger_helpers import make_users

    ledger = LedgerService(db)
    alice, bob = await make_users(db, 2)
    with pytest.raises(InsufficientFunds) as first:
        await ledger.transfer(alice, bob, 5, reason="r", key="lib-key-1")
    await ledger.credit(alice, 5, reason="funds")
    with pytest.raises(InsufficientFunds) as again:
        await ledger.transfer(alice, bob, 5, reason="r", key="lib-key-1")
    assert (again.value.message, again.value.field) == (first.value.message, first.value.field)
    assert (await ledger.transfer(alice, bob, 5, reason="r", key="lib-key-2")).amount == 5


async def test_a_refused_hold_is_bound_to_its_key(db: Database) -> None:
    from tests.integration.ledger_helpers import make_users

    ledger = LedgerService(db)
    alice, bob = await make_users(db, 2)
    source, target = await ledger.wallet_account(alice), await ledger.wallet_account(bob)

    def hold() -> Any:
        return ledger.hold(source, target, 7, reason="generation", key="hold-key-1")

    first, twin = await asyncio.gather(hold(), hold(), return_exceptions=True)
    assert isinstance(first, InsufficientFunds) and isinstance(twin, InsufficientFunds)
    await ledger.credit(alice, 7, reason="funds")
    with pytest.raises(InsufficientFunds) as again:
        await hold()
    assert (again.value.message, again.value.field) == (first.message, first.field)
    assert (await ledger.wallet(alice)).pending == 0
    held = await ledger.hold(source, target, 7, reason="generation", key="hold-key-2")
    assert (await ledger.wallet(alice)).pending == held.amount == 7
    await assert_books_whole(db)


async def test_a_refused_linked_batch_is_bound_to_its_key(db: Database) -> None:
    from tests.integration.ledger_helpers import make_users

    ledger = LedgerService(db)
    alice, bob, carol = await make_users(db, 3)
    wallets = [await ledger.wallet_account(u) for u in (alice, bob, carol)]
    await ledger.credit(alice, 5, reason="funds")
    batch = [
        Movement(wallets[0], wallets[1], 5, "TOK", "first"),
        Movement(wallets[1], wallets[2], 8, "TOK", "second: bob holds only 5"),
    ]
    with pytest.raises(InsufficientFunds) as first:
        await ledger.transfer_linked(batch, key="linked-key-1")
    assert str(wallets[1]) in first.value.message  # the second movement was refused
    await ledger.credit(bob, 3, reason="funds")
    with pytest.raises(InsufficientFunds) as again:
        await ledger.transfer_linked(batch, key="linked-key-1")
    assert (again.value.message, again.value.field) == (first.value.message, first.value.field)
    assert len(await ledger.transfer_linked(batch, key="linked-key-2")) == 2
    await assert_books_whole(db)


async def test_verify_reports_a_key_both_refused_and_used(db: Database) -> None:
    from sqlalchemy import insert

    from stratabase.ledger import verify
    from stratabase.models.ledger import LedgerRefusal
    from tests.integration.ledger_helpers import make_users

    ledger = LedgerService(db)
    (alice,) = await make_users(db, 1)
    await ledger.credit(alice, 5, reason="funds", key="verify-key-1")
    assert (await verify.verify(db)).ok

    async def forge(session: Any) -> None:
        row = {"idempotency_key": "verify-key-1", "request_hash": "x", "code": "SBIF0"}
        await session.execute(insert(LedgerRefusal).values(**row))

    await db.transaction(forge)
    report = await verify.verify(db)
    assert any("verify-key-1" in v for v in report.violations), report.violations


async def test_a_refused_reversal_is_bound_to_its_key(db: Database) -> None:
    from tests.integration.ledger_helpers import make_users

    ledger = LedgerService(db)
    alice, bob = await make_users(db, 2)
    await ledger.credit(alice, 5, reason="funds")
    paid = await ledger.transfer(alice, bob, 5, reason="tip")
    await ledger.deduct(bob, 5, reason="spent")  # nothing left to take back

    def undo(key: str) -> Any:
        return ledger.reverse(paid.id, reason="chargeback", key=key)

    first, twin = await asyncio.gather(
        undo("undo-key-1"), undo("undo-key-1"), return_exceptions=True
    )
    assert isinstance(first, InsufficientFunds) and isinstance(twin, InsufficientFunds)
    await ledger.credit(bob, 5, reason="funds")
    with pytest.raises(InsufficientFunds) as again:
        await undo("undo-key-1")
    assert (again.value.message, again.value.field) == (first.message, first.field)
    assert (await undo("undo-key-2")).reverses_id == paid.id
    await assert_books_whole(db)
