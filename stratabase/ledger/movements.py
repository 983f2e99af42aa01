"""The portable core: one movement as a few statements inside the caller's transaction.

Used for everything on SQLite (inside one ``BEGIN IMMEDIATE`` transaction) and, on
PostgreSQL, for what is not a plain transfer (linked batches, holds, reversals, payments).
Every balance change is one conditional ``UPDATE … RETURNING``: the database decides
whether the funds are there, Python never reads a balance to write it back. Accounts are
updated in id order, so two movements can never wait on each other in a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db import portable
from stratabase.db.types import utcnow
from stratabase.enums import AccountKind, TransferStatus
from stratabase.exceptions import Conflict, InsufficientFunds, InvalidInput, NotFound
from stratabase.ledger.values import Transfer
from stratabase.models.ledger import LedgerAccount, LedgerEntry, LedgerTransfer
from stratabase.schemas.common import MAX_BIGINT, MAX_ID

accounts = cast(Table, LedgerAccount.__table__)
transfers = cast(Table, LedgerTransfer.__table__)
entries = cast(Table, LedgerEntry.__table__)

IDEMPOTENCY_CONSTRAINT = "uq_ledger_transfers_idempotency_key"
REVERSAL_CONSTRAINT = "uq_ledger_transfers_reverses_id"


#: The text columns a movement writes, and their widths.
_WIDTHS = {
    name: int(transfers.c[name].type.length)  # type: ignore[attr-defined]
    for name in ("currency", "reason", "reference_type", "reference_id")
}


@dataclass(frozen=True)
class Movement:
    """A request to move ``amount`` from one account to another."""

    debit_account_id: int
    credit_account_id: int
    amount: int
    currency: str
    reason: str = ""
    reference_type: str | None = None
    reference_id: str | None = None
    metadata: dict[str, Any] | None = None

    def check(self) -> None:
        """Refuse what the database would refuse, with the field named, the same way on
        both backends (SQLite would store an over-long text that PostgreSQL refuses)."""
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount <= 0:
            raise InvalidInput("amount must be a positive integer (minor units)", field="amount")
        if self.amount > MAX_BIGINT:
            raise InvalidInput(f"amount must be at most {MAX_BIGINT}", field="amount")
        for name in ("debit_account_id", "credit_account_id"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
                raise InvalidInput(f"{name} must be an id from 1 to {MAX_ID}", field=name)
        for name, width in _WIDTHS.items():
            value = getattr(self, name)
            if value is not None and len(value) > width:
                raise InvalidInput(f"{name} is longer than {width} characters", field=name)
        if self.debit_account_id == self.credit_account_id:
            raise InvalidInput("cannot move tokens from an account to itself", field="to")
        if (self.reference_type is None) != (self.reference_id is None):
            raise InvalidInput("reference_type and reference_id go together", field="reference")


def _is_system() -> Any:
    return accounts.c.kind == AccountKind.SYSTEM.value


async def refuse(session: AsyncSession, account_id: int, currency: str, amount: int) -> None:
    """Explain why a conditional update matched no row, as a typed error."""
    row = (
        await session.execute(select(accounts.c.currency).where(accounts.c.id == account_id))
    ).first()
    if row is None:
        raise NotFound(f"ledger account {account_id} does not exist", field="account_id")
    if row.currency != currency:
        raise InvalidInput(
            f"ledger account {account_id} does not hold {currency} (it holds {row.currency})",
            field="currency",
        )
    raise InsufficientFunds(f"ledger account {account_id} cannot spend {amount}", field="amount")


async def find_by_key(session: AsyncSession, key: str) -> Any:
    """The transfer row stored under an idempotency key, or None."""
    return (
        await session.execute(select(transfers).where(transfers.c.idempotency_key == key))
    ).first()


def replay(row: Any, request_hash: str) -> Transfer:
    """The original transfer for a retried key, or Conflict if the request differs."""
    if row.request_hash != request_hash:
        raise Conflict(
            f"idempotency key {row.idempotency_key!r} was used for a different request",
            field="idempotency_key",
        )
    return Transfer.from_row(row, replayed=True)


async def lock_accounts(session: AsyncSession, account_ids: set[int]) -> None:
    """Lock every account a batch touches, in id order, before touching any (PostgreSQL).

    SQLite needs nothing: the IMMEDIATE transaction already holds the database's write lock.
    """
    await portable.lock_rows_in_id_order(session, accounts, sorted(account_ids))


async def debit(
    session: AsyncSession,
    account_id: int,
    amount: int,
    currency: str,
    now: datetime,
    *,
    release: int = 0,
) -> Any:
    """Take ``amount`` out (and ``release`` from held funds) if the funds are there."""
    query = (
        update(accounts)
        .where(
            accounts.c.id == account_id,
            accounts.c.currency == currency,
            or_(
                _is_system(),
                accounts.c.balance - (accounts.c.pending_debits - release) >= amount,
            ),
        )
        .values(
            balance=accounts.c.balance - amount,
            spent_total=accounts.c.spent_total + amount,
            pending_debits=accounts.c.pending_debits - release,
            updated_at=now,
        )
        .returning(accounts.c.balance, accounts.c.user_id)
    )
    row = (await session.execute(query)).first()
    if row is None:
        await refuse(session, account_id, currency, amount)
    return row


async def credit(
    session: AsyncSession, account_id: int, amount: int, currency: str, now: datetime
) -> Any:
    """Add ``amount`` to an account of that currency (refused otherwise)."""
    query = (
        update(accounts)
        .where(accounts.c.id == account_id, accounts.c.currency == currency)
        .values(
            balance=accounts.c.balance + amount,
            earned_total=accounts.c.earned_total + amount,
            updated_at=now,
        )
        .returning(accounts.c.balance, accounts.c.user_id)
    )
    row = (await session.execute(query)).first()
    if row is None:
        await refuse(session, account_id, currency, 0)
    return row


async def reserve(
    session: AsyncSession, account_id: int, amount: int, currency: str, now: datetime
) -> Any:
    """Hold ``amount`` of the available funds (pending_debits), if they are there."""
    query = (
        update(accounts)
        .where(
            accounts.c.id == account_id,
            accounts.c.currency == currency,
            or_(_is_system(), accounts.c.balance - accounts.c.pending_debits >= amount),
        )
        .values(pending_debits=accounts.c.pending_debits + amount, updated_at=now)
        .returning(accounts.c.balance, accounts.c.user_id)
    )
    row = (await session.execute(query)).first()
    if row is None:
        await refuse(session, account_id, currency, amount)
    return row


async def release(session: AsyncSession, account_id: int, amount: int, now: datetime) -> Any:
    """Give back ``amount`` of held funds (a void, an expiry or a post)."""
    query = (
        update(accounts)
        .where(accounts.c.id == account_id)
        .values(pending_debits=accounts.c.pending_debits - amount, updated_at=now)
        .returning(accounts.c.balance, accounts.c.user_id)
    )
    return (await session.execute(query)).one()


async def insert_transfer(session: AsyncSession, values: dict[str, Any]) -> Transfer:
    """Insert a transfer row (posted unless told otherwise) and return it."""
    row = {
        "status": TransferStatus.POSTED.value,
        "reason": "",
        "metadata": {},
        "created_at": utcnow(),
        **values,
    }
    result = await session.execute(insert(transfers).values(**row).returning(transfers))
    return Transfer.from_row(result.one())


async def move(
    session: AsyncSession,
    movement: Movement,
    *,
    key: str | None = None,
    request_hash: str | None = None,
    release_pending: int = 0,
    extra: dict[str, Any] | None = None,
) -> tuple[Transfer, tuple[int | None, int | None]]:
    """Record a posted transfer, move the funds, append both entries.

    The transfer row goes first, so a concurrent retry with the same key stops at the
    unique index before it has locked any account. Returns the transfer and the owners of
    the debit and credit accounts.
    """
    movement.check()
    now = utcnow()
    transfer = await insert_transfer(
        session,
        {
            "debit_account_id": movement.debit_account_id,
            "credit_account_id": movement.credit_account_id,
            "amount": movement.amount,
            "currency": movement.currency,
            "reason": movement.reason,
            "reference_type": movement.reference_type,
            "reference_id": movement.reference_id,
            "metadata": movement.metadata or {},
            "idempotency_key": key,
            "request_hash": request_hash,
            "created_at": now,
            **(extra or {}),
        },
    )
    sides: dict[int, Any] = {}
    for account_id in sorted((movement.debit_account_id, movement.credit_account_id)):
        if account_id == movement.debit_account_id:
            sides[account_id] = await debit(
                session,
                account_id,
                movement.amount,
                movement.currency,
                now,
                release=release_pending,
            )
        else:
            sides[account_id] = await credit(
                session, account_id, movement.amount, movement.currency, now
            )
    debit_row = sides[movement.debit_account_id]
    credit_row = sides[movement.credit_account_id]
    await session.execute(
        insert(entries),
        [
            {
                "transfer_id": transfer.id,
                "account_id": movement.debit_account_id,
                "amount": -movement.amount,
                "balance_after": debit_row.balance,
                "created_at": now,
            },
            {
                "transfer_id": transfer.id,
                "account_id": movement.credit_account_id,
                "amount": movement.amount,
                "balance_after": credit_row.balance,
                "created_at": now,
            },
        ],
    )
    return transfer, (debit_row.user_id, credit_row.user_id)


async def lock_transfer(session: AsyncSession, transfer_id: int) -> Any:
    """The transfer row, locked against concurrent post/void/expiry on PostgreSQL."""
    query = portable.lock(select(transfers).where(transfers.c.id == transfer_id), key_share=True)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(f"transfer {transfer_id} does not exist", field="transfer_id")
    return row


async def set_status(session: AsyncSession, transfer_id: int, status: TransferStatus) -> None:
    """Mark a hold posted, voided or expired."""
    await session.execute(
        update(transfers).where(transfers.c.id == transfer_id).values(status=status.value)
    )


def overdue_holds(now: datetime, limit: int) -> Any:
    """Pending holds past their expiry, oldest first (served by the partial expiry index)."""
    return (
        select(transfers.c.id)
        .where(
            and_(transfers.c.status == TransferStatus.PENDING.value, transfers.c.expires_at <= now)
        )
        .order_by(transfers.c.expires_at)
        .limit(limit)
    )
