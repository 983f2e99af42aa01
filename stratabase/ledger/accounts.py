"""System accounts and user wallets: found, or created on first use, race-free.

Creation is ``INSERT … ON CONFLICT DO NOTHING`` on the (owner, currency) unique keys followed
by a read, so two requests creating the same wallet at once both get the one row.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db import portable
from stratabase.enums import AccountKind
from stratabase.exceptions import NotFound
from stratabase.ledger.values import DEFAULT_CURRENCY, SystemAccount
from stratabase.models.accounts import User
from stratabase.models.ledger import LedgerAccount

accounts = cast(Table, LedgerAccount.__table__)


async def _insert_account(session: AsyncSession, values: dict[str, Any]) -> None:
    row = {
        "balance": 0,
        "pending_debits": 0,
        "earned_total": 0,
        "spent_total": 0,
        **values,
    }
    await session.execute(portable.insert_or_ignore(session, accounts, row))


async def system_account_id(
    session: AsyncSession, code: SystemAccount | str, currency: str = DEFAULT_CURRENCY
) -> int:
    """The id of a system account, created the first time it is needed."""
    code = SystemAccount(code)
    query = select(accounts.c.id).where(
        accounts.c.system_code == code.value, accounts.c.currency == currency
    )
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        await _insert_account(
            session,
            {"kind": AccountKind.SYSTEM.value, "system_code": code.value, "currency": currency},
        )
        found = (await session.execute(query)).scalar_one()
    return int(found)


async def wallet_id(session: AsyncSession, user_id: int, currency: str = DEFAULT_CURRENCY) -> int:
    """The id of a user's wallet, created the first time it is needed."""
    query = select(accounts.c.id).where(
        accounts.c.user_id == user_id, accounts.c.currency == currency
    )
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        exists = await session.execute(select(User.id).where(User.id == user_id))
        if exists.scalar_one_or_none() is None:
            raise NotFound(f"user {user_id} does not exist", field="user_id")
        await _insert_account(
            session, {"kind": AccountKind.USER.value, "user_id": user_id, "currency": currency}
        )
        found = (await session.execute(query)).scalar_one()
    return int(found)


async def find_wallet(
    session: AsyncSession, user_id: int, currency: str = DEFAULT_CURRENCY
) -> int | None:
    """A user's wallet id without creating it (reads must not write)."""
    query = select(accounts.c.id).where(
        accounts.c.user_id == user_id, accounts.c.currency == currency
    )
    found = (await session.execute(query)).scalar_one_or_none()
    return None if found is None else int(found)
