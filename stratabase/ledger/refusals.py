"""Refusals bound to their idempotency key: a retry gets the answer the key first got.

A movement refused for a reason the ledger's state decides (insufficient funds, no such
account, wrong currency) is recorded under its key in ``ledger_refusals``, in the same
transaction that refused it and under the same account locks, as Stripe saves an error
response. A retry with the key then answers the same refusal, with the same body, even once
the funds are there; a retry with another request under the key is a conflict, as for a
success. Both backends word a refusal from the same templates, keyed by the codes the
PostgreSQL batch function reports (migration 0002).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Table, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db import portable
from stratabase.db.types import utcnow
from stratabase.exceptions import (
    Conflict,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    StratabaseError,
)
from stratabase.models.ledger import LedgerRefusal, LedgerTransfer

__all__ = [
    "REFUSALS",
    "Refused",
    "attempt",
    "code_for",
    "error",
    "find",
    "key_used",
    "record",
    "refused_index",
]

T = TypeVar("T")

refusals = cast(Table, LedgerRefusal.__table__)

#: Each code's error class, the field at fault and the message template.
REFUSALS: dict[str, tuple[type[StratabaseError], str, str]] = {
    "SBIF0": (InsufficientFunds, "amount", "ledger account {debit} cannot spend {amount}"),
    "SBNF0": (NotFound, "account_id", "a ledger account of this transfer does not exist"),
    "SBCU0": (InvalidInput, "currency", "a ledger account of this transfer does not hold {cur}"),
    "SBIK0": (
        Conflict,
        "idempotency_key",
        "idempotency key {key!r} was used for a different request",
    ),
}

#: The codes a key is bound to (a key conflict is about the request, not the ledger).
RECORDED = frozenset({"SBIF0", "SBNF0", "SBCU0"})


@dataclass(frozen=True)
class Refused:
    """A refusal decided inside a transaction that commits (to record it), raised after."""

    code: str


def error(code: str, movement: Any, key: str | None) -> StratabaseError:
    """The domain error for ``code`` on ``movement`` (a ``Movement``): same request, same text.

    A linked batch's code ends with the index of the movement refused (``SBIF003``): pass
    that movement, found with ``refused_index``.
    """
    cls, field_name, template = REFUSALS[code[:5]]
    message = template.format(
        debit=movement.debit_account_id, amount=movement.amount, cur=movement.currency, key=key
    )
    return cls(message, field=field_name)


def refused_index(code: str) -> int:
    """Which movement of a linked batch a recorded code refers to (0 for a single one)."""
    return int(code[5:] or 0)


def code_for(exc: StratabaseError) -> str | None:
    """The code of a refusal the ledger's state decided, or None for any other error."""
    if isinstance(exc, InsufficientFunds):
        return "SBIF0"
    accounts = {"account_id", "debit_account_id", "credit_account_id"}
    if isinstance(exc, NotFound) and exc.field in accounts:
        return "SBNF0"
    if isinstance(exc, InvalidInput) and exc.field == "currency":
        return "SBCU0"
    return None


async def find(session: AsyncSession, key: str, request_hash: str) -> Refused | None:
    """The refusal recorded under ``key``; Conflict if it was for another request."""
    row = (
        await session.execute(
            select(refusals.c.request_hash, refusals.c.code).where(
                refusals.c.idempotency_key == key
            )
        )
    ).first()
    if row is None:
        return None
    if row.request_hash != request_hash:
        return Refused("SBIK0")
    return Refused(str(row.code))


async def attempt(
    session: AsyncSession,
    key: str | None,
    request_hash: str,
    run: Callable[[], Awaitable[T]],
    translate: Callable[[IntegrityError], StratabaseError],
    *,
    which: Callable[[], int] | None = None,
) -> T | Refused:
    """Run one keyed movement (``run``) in a savepoint, binding ``key`` to its refusal.

    A refusal recorded under ``key`` answers at once (the caller raises it after commit);
    a refusal ``run`` meets is recorded, and the movement's statements are undone while
    the transaction that records it commits. Concurrent duplicates must be serialized by
    the caller (SQLite's writer lock; on PostgreSQL, lock the accounts before this).
    ``which`` names the movement refused, for a batch of several (see ``error``).
    """
    if key is None:  # nothing to bind: no savepoint either
        return await run()
    if (refused := await find(session, key, request_hash)) is not None:
        return refused
    try:
        try:
            async with session.begin_nested():
                return await run()
        except IntegrityError as exc:
            raise translate(exc) from exc
    except StratabaseError as exc:
        code = code_for(exc)
        if code is None:
            raise
        if which is not None:
            code = f"{code}{which():02d}"
        await record(session, key, request_hash, code, utcnow())
        return Refused(code)


async def key_used(session: AsyncSession, key: str) -> bool:
    """Whether ``key`` already has an outcome (a transfer or a refusal) to answer with."""
    transfers = cast(Table, LedgerTransfer.__table__)
    query = select(
        exists().where(transfers.c.idempotency_key == key)
        | exists().where(refusals.c.idempotency_key == key)
    )
    return bool(await session.scalar(query))


async def record(
    session: AsyncSession, key: str, request_hash: str, code: str, now: datetime
) -> None:
    """Bind ``key`` to the refusal ``code`` (a twin that recorded it first wins)."""
    row = {"idempotency_key": key, "request_hash": request_hash, "code": code, "created_at": now}
    await session.execute(portable.insert_or_ignore(session, refusals, row))
