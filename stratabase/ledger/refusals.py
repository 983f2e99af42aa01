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

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.exceptions import (
    Conflict,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    StratabaseError,
)
from stratabase.models.ledger import LedgerRefusal

__all__ = ["REFUSALS", "Refused", "code_for", "error", "find", "record"]

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
    """The domain error for ``code`` on ``movement`` (a ``Movement``): same request, same text."""
    cls, field_name, template = REFUSALS[code]
    message = template.format(
        debit=movement.debit_account_id, amount=movement.amount, cur=movement.currency, key=key
    )
    return cls(message, field=field_name)


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


async def record(
    session: AsyncSession, key: str, request_hash: str, code: str, now: datetime
) -> None:
    """Bind ``key`` to the refusal ``code`` (a twin that recorded it first wins)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(refusals)
    await session.execute(
        insert.values(
            idempotency_key=key, request_hash=request_hash, code=code, created_at=now
        ).on_conflict_do_nothing()
    )
