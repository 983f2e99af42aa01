"""Ledger reads: wallets, keyset-paginated history, transfers, holds. Each takes a session."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.enums import TransferStatus
from stratabase.exceptions import InvalidInput, NotFound
from stratabase.ledger.values import HistoryItem, HistoryPage, Transfer, Wallet
from stratabase.models.ledger import LedgerAccount, LedgerEntry, LedgerTransfer

accounts = cast(Table, LedgerAccount.__table__)
transfers = cast(Table, LedgerTransfer.__table__)
entries = cast(Table, LedgerEntry.__table__)

MAX_PAGE = 200


async def wallet(session: AsyncSession, account_id: int) -> Wallet:
    """An account's balances; NotFound naming ``account_id``."""
    row = (await session.execute(select(accounts).where(accounts.c.id == account_id))).first()
    if row is None:
        raise NotFound(f"ledger account {account_id} does not exist", field="account_id")
    return Wallet.from_row(row)


async def balance(session: AsyncSession, account_id: int) -> int:
    """An account's balance."""
    return (await wallet(session, account_id)).balance


async def transfer(session: AsyncSession, transfer_id: int) -> Transfer:
    """One transfer; NotFound naming ``transfer_id``."""
    row = (await session.execute(select(transfers).where(transfers.c.id == transfer_id))).first()
    if row is None:
        raise NotFound(f"transfer {transfer_id} does not exist", field="transfer_id")
    return Transfer.from_row(row)


async def linked(session: AsyncSession, linked_id: int) -> list[Transfer]:
    """The transfers of a linked batch, in order."""
    query = select(transfers).where(transfers.c.linked_id == linked_id).order_by(transfers.c.id)
    return [Transfer.from_row(row) for row in await session.execute(query)]


async def history(
    session: AsyncSession, account_id: int, *, limit: int = 50, before: int | None = None
) -> HistoryPage:
    """Newest first; ``before`` is the ``next_before`` of the previous page (an entry id).

    Keyset, not OFFSET: page 1000 costs what page 1 costs, and a page never repeats or skips
    rows when new entries arrive meanwhile. Served by ``ix_ledger_entries_account_id``.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    query: Any = (
        select(
            entries.c.id,
            entries.c.transfer_id,
            entries.c.amount,
            entries.c.balance_after,
            entries.c.created_at,
            transfers.c.debit_account_id,
            transfers.c.credit_account_id,
            transfers.c.reason,
            transfers.c.reference_type,
            transfers.c.reference_id,
            transfers.c.reverses_id,
        )
        .join(transfers, transfers.c.id == entries.c.transfer_id)
        .where(entries.c.account_id == account_id)
        .order_by(entries.c.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(entries.c.id < before)
    rows = list(await session.execute(query))
    items = [
        HistoryItem(
            entry_id=row.id,
            transfer_id=row.transfer_id,
            amount=row.amount,
            balance_after=row.balance_after,
            counterparty_account_id=(
                row.credit_account_id if row.amount < 0 else row.debit_account_id
            ),
            reason=row.reason,
            reference_type=row.reference_type,
            reference_id=row.reference_id,
            reverses_id=row.reverses_id,
            created_at=row.created_at,
        )
        for row in rows[:limit]
    ]
    next_before = items[-1].entry_id if len(rows) > limit else None
    return HistoryPage(items=items, next_before=next_before)


async def open_holds(session: AsyncSession, account_id: int) -> list[Transfer]:
    """An account's pending holds, oldest first."""
    query = (
        select(transfers)
        .where(
            transfers.c.debit_account_id == account_id,
            transfers.c.status == TransferStatus.PENDING.value,
        )
        .order_by(transfers.c.id)
    )
    return [Transfer.from_row(row) for row in await session.execute(query)]


async def total_balance(session: AsyncSession) -> dict[str, int]:
    """Sum of all balances per currency: zero whenever the books are whole."""
    query = select(accounts.c.currency, func.sum(accounts.c.balance)).group_by(accounts.c.currency)
    return {currency: int(total) for currency, total in await session.execute(query)}
