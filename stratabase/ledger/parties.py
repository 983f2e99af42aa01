"""Who may pay whom: users pay users, never across a block, never into a system account.

System accounts (treasury, clearing, fees) move only through their own operations (mint,
deduct, payments); a user's transfer names another user, or another user's wallet.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.enums import AccountKind
from stratabase.exceptions import InvalidInput, NotFound, PermissionDenied
from stratabase.models.ledger import LedgerAccount
from stratabase.models.social import Block

__all__ = ["recipient_of", "require_no_block"]

_accounts = cast(Table, LedgerAccount.__table__)


async def require_no_block(
    session: AsyncSession, sender_id: int, recipient_id: int, *, field: str = "to_user_id"
) -> None:
    """Refuse (403) a transfer between two users when either blocks the other: a block
    must not leave a paid channel (an amount and a free-text reason) open either way."""
    query = select(Block.blocker_id).where(
        or_(
            and_(Block.blocker_id == sender_id, Block.blocked_id == recipient_id),
            and_(Block.blocker_id == recipient_id, Block.blocked_id == sender_id),
        )
    )
    blockers = set((await session.execute(query)).scalars())
    if recipient_id in blockers:
        raise PermissionDenied("this user has blocked you", field=field)
    if sender_id in blockers:
        raise PermissionDenied("unblock this user before sending them tokens", field=field)


async def recipient_of(session: AsyncSession, account_id: int, sender_id: int) -> tuple[int, str]:
    """The owner and currency of ``account_id``, which must be another user's wallet."""
    row = (
        await session.execute(
            select(_accounts.c.kind, _accounts.c.user_id, _accounts.c.currency).where(
                _accounts.c.id == account_id
            )
        )
    ).first()
    if row is None:
        raise NotFound(f"ledger account {account_id} does not exist", field="to_account_id")
    if row.kind != AccountKind.USER.value or row.user_id is None:
        raise InvalidInput(
            "to_account_id must be a user's wallet; system accounts move only through their "
            "own operations",
            field="to_account_id",
        )
    if row.user_id == sender_id:
        raise InvalidInput("cannot transfer to yourself", field="to_account_id")
    return int(row.user_id), str(row.currency)
