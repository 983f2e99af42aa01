"""A transfer the database cannot take fails alone: never the transfers batched with it,
and never with the driver's text.

PostgreSQL sends concurrent transfers as one statement (``ledger/postgres.py``); a value
that statement cannot take (an id past BIGINT, a NUL in a text) used to fail the whole
batch with a 503 quoting the driver. The edge refuses such values first (422), so these
tests call the service and the batcher directly.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from stratabase.db.session import Database
from stratabase.exceptions import InvalidInput, StratabaseError
from stratabase.ledger.movements import Movement
from stratabase.ledger.postgres import TransferBatcher
from stratabase.ledger.service import LedgerService
from tests.integration.ledger_helpers import assert_books_whole, make_users

TOO_BIG = 2**63
#: Words of the driver's messages that must never reach a caller.
DRIVER_TEXT = ("asyncpg", "query argument", "$", "int64", "UTF8", "0x00", "Error:")


@dataclass(frozen=True)
class _Unchecked(Movement):
    """A movement whose values escaped validation (a library caller's bug, a future field):
    the batch function itself must then refuse it without harming its neighbours."""

    def check(self) -> None:
        return None


async def _funded(db: Database, ledger: LedgerService, count: int) -> list[int]:
    users = await make_users(db, count)
    for user in users:
        await ledger.credit(user, 100, reason="seed")
    return [await ledger.wallet_account(user) for user in users]


def _clean(error: BaseException) -> None:
    assert isinstance(error, StratabaseError), repr(error)
    assert not any(word in error.message for word in DRIVER_TEXT), error.message


async def test_poison_values_are_refused_alone_on_both_backends(db: Database) -> None:
    """Through the service: the poison is refused before the database, with its field."""
    ledger = LedgerService(db)
    wallets = await _funded(db, ledger, 6)
    valid = [
        ledger.transfer_accounts(wallets[i], wallets[i + 1], 1, reason="ok", key=f"ok-{i}")
        for i in range(0, 6, 2)
    ]
    poison = [
        ledger.transfer_accounts(wallets[0], TOO_BIG, 1, reason="bad", key="bad-id"),
        ledger.transfer_accounts(wallets[2], wallets[3], 1, reason="r" * 201, key="bad-reason"),
        ledger.transfer_accounts(wallets[4], wallets[5], 2**63, reason="bad", key="bad-amount"),
    ]
    results = await asyncio.gather(*valid, *poison, return_exceptions=True)
    assert all(not isinstance(r, BaseException) for r in results[:3]), results[:3]
    fields = []
    for result in results[3:]:
        assert isinstance(result, InvalidInput), repr(result)
        _clean(result)
        fields.append(result.field)
    assert fields == ["credit_account_id", "reason", "amount"]
    await assert_books_whole(db)


@pytest.mark.parametrize("backend", ["postgres"])  # the batcher is PostgreSQL's
@pytest.mark.parametrize(
    ("poison", "field"),
    [
        ({"credit_account_id": TOO_BIG}, "credit_account_id"),  # the driver cannot encode it
        ({"reason": "nul\x00byte"}, None),  # the database refuses it (SQLSTATE 22021)
        ({"metadata": {"note": "nul\x00"}}, None),  # jsonb refuses it (SQLSTATE 22P05)
        ({"metadata": {"set": {1, 2}}}, "metadata"),  # not JSON at all
    ],
)
async def test_one_poison_in_a_batch_fails_alone(
    db: Database, poison: dict[str, Any], field: str | None
) -> None:
    ledger = LedgerService(db)
    wallets = await _funded(db, ledger, 8)
    batcher = TransferBatcher(db, in_flight=1)  # one call: every transfer shares the batch
    sizes: list[int] = []
    send = batcher._call

    async def counted(raw: Any, batch: list[Any]) -> list[Any]:
        sizes.append(len(batch))
        return await send(raw, batch)

    batcher._call = counted  # type: ignore[method-assign]

    def movement(i: int, **changes: Any) -> Movement:
        fields: dict[str, Any] = {
            "debit_account_id": wallets[i],
            "credit_account_id": wallets[(i + 1) % 8],
            "amount": 1,
            "currency": "TOK",
            "reason": "ok",
            **changes,
        }
        return _Unchecked(**fields) if changes else Movement(**fields)

    calls = [batcher.transfer(movement(i), key=f"valid-{i}", digest="d") for i in range(7)]
    calls.insert(3, batcher.transfer(movement(7, **poison), key="poison", digest="d"))
    results = await asyncio.gather(*calls, return_exceptions=True)

    failed = results.pop(3)
    assert isinstance(failed, InvalidInput), repr(failed)
    _clean(failed)
    assert failed.field == field
    assert all(not isinstance(r, BaseException) for r in results), results
    if field != "metadata":  # a value the statement refused: the batch went out whole first
        assert sizes[0] == 8 and len(sizes) > 1, sizes
    await assert_books_whole(db)
    assert (await ledger.account(wallets[7])).balance == 100 + 1  # received, sent nothing
