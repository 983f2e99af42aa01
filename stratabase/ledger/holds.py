"""Two-phase transfers: hold funds now, post (all or part) or void later, or let them expire.

A hold is a transfer row with status ``pending`` and an ``expires_at``; it reserves funds in
the debit account's ``pending_debits`` (so ``available`` drops) and moves nothing. Posting
records a separate posted transfer (``pending_id`` = the hold) with the entries, releases
the reservation and marks the hold ``posted``; voiding or expiry only release it. Every
resolution locks the hold row first, so a hold is resolved exactly once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db import portable
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import TransferStatus
from stratabase.exceptions import Conflict, InvalidInput
from stratabase.ledger import movements, refusals
from stratabase.ledger.movements import Movement, find_by_key, replay
from stratabase.ledger.values import DEFAULT_CURRENCY, Transfer, request_hash

T = TypeVar("T")

#: Longest a hold may reserve funds.
MAX_HOLD = timedelta(days=7)


class HoldOperations:
    """Mixed into LedgerService: hold, post, void, expire."""

    db: Database

    def announce(
        self,
        session: AsyncSession | None,
        kind: str,
        transfer_ids: Sequence[int],
        account_ids: Iterable[int],
        user_ids: Iterable[int | None],
    ) -> Awaitable[None] | None:
        """Provided by LedgerService: tell the hooks about a committed change."""
        raise NotImplementedError

    async def idempotent(
        self, work: Callable[[AsyncSession], Awaitable[T]], key: str | None, digest: str | None
    ) -> T | Transfer:
        """Provided by LedgerService: run ``work``, answering a twin's key as a replay."""
        raise NotImplementedError

    async def hold(
        self,
        debit_account_id: int,
        credit_account_id: int,
        amount: int,
        *,
        reason: str = "",
        expires_in: timedelta = timedelta(minutes=15),
        currency: str = DEFAULT_CURRENCY,
        reference: tuple[str, str] | None = None,
        key: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Transfer:
        """Reserve ``amount`` for a later post (e.g. tokens for an AI generation before it runs)."""
        movement = Movement(
            debit_account_id,
            credit_account_id,
            amount,
            currency,
            reason,
            None if reference is None else reference[0],
            None if reference is None else str(reference[1]),
            metadata,
        )
        movement.check()
        if not timedelta(0) < expires_in <= MAX_HOLD:
            raise InvalidInput(f"a hold expires within {MAX_HOLD}", field="expires_in")
        fields = {**vars(movement), "expires_in": expires_in.total_seconds()}
        digest = request_hash("hold", fields)

        async def reserve(session: AsyncSession) -> Transfer:
            now = utcnow()
            hold = await movements.insert_transfer(
                session,
                {
                    "debit_account_id": debit_account_id,
                    "credit_account_id": credit_account_id,
                    "amount": amount,
                    "currency": currency,
                    "status": TransferStatus.PENDING.value,
                    "reason": reason,
                    "reference_type": movement.reference_type,
                    "reference_id": movement.reference_id,
                    "metadata": metadata or {},
                    "idempotency_key": key,
                    "request_hash": digest,
                    "expires_at": now + expires_in,
                    "created_at": now,
                },
            )
            credit_currency = await session.execute(
                select(movements.accounts.c.currency).where(
                    movements.accounts.c.id == credit_account_id
                )
            )
            if credit_currency.scalar_one_or_none() != currency:
                await movements.refuse(session, credit_account_id, currency, 0)
            owner = await movements.reserve(session, debit_account_id, amount, currency, now)
            self.announce(session, "hold", [hold.id], [debit_account_id], [owner.user_id])
            return hold

        async def work(session: AsyncSession) -> Transfer | refusals.Refused:
            if key is not None:
                # Duplicates wait here for each other, so the second sees the first's outcome.
                await movements.lock_accounts(session, {debit_account_id, credit_account_id})
                if (row := await find_by_key(session, key)) is not None:
                    return replay(row, digest)
            return await refusals.attempt(
                session, key, digest, lambda: reserve(session), self.db.translator.translate
            )

        outcome = await self.idempotent(work, key, digest)
        if isinstance(outcome, refusals.Refused):
            raise refusals.error(outcome.code, movement, key)
        return outcome

    async def post(
        self, hold_id: int, *, amount: int | None = None, key: str | None = None
    ) -> Transfer:
        """Move the held funds (or ``amount`` ≤ the hold, releasing the rest)."""
        if amount is not None and (isinstance(amount, bool) or amount <= 0):
            raise InvalidInput("amount must be a positive integer", field="amount")
        digest = request_hash("post", {"hold_id": hold_id, "amount": amount})
        expired_at: list[datetime] = []

        async def work(session: AsyncSession) -> Transfer:
            if key is not None and (row := await find_by_key(session, key)) is not None:
                return replay(row, digest)
            hold = await _pending_hold(session, hold_id)
            now = utcnow()
            if hold.expires_at <= now:
                await _expire(self, session, hold, now)
                expired_at.append(hold.expires_at)
                return Transfer.from_row(hold)
            to_post = hold.amount if amount is None else amount
            if to_post > hold.amount:
                raise InvalidInput(f"hold {hold_id} reserves only {hold.amount}", field="amount")
            movement = Movement(
                hold.debit_account_id,
                hold.credit_account_id,
                to_post,
                hold.currency,
                hold.reason,
                hold.reference_type,
                hold.reference_id,
                dict(hold.metadata or {}),
            )
            result, owners = await movements.move(
                session,
                movement,
                key=key,
                request_hash=digest,
                release_pending=hold.amount,
                extra={"pending_id": hold_id},
            )
            await movements.set_status(session, hold_id, TransferStatus.POSTED)
            touched = [hold.debit_account_id, hold.credit_account_id]
            self.announce(session, "post", [hold_id, result.id], touched, owners)
            return result

        result = await self.idempotent(work, key, digest)
        if expired_at:
            raise Conflict(f"hold {hold_id} expired at {expired_at[0].isoformat()}")
        return result

    async def void(self, hold_id: int) -> Transfer:
        """Release a hold without moving anything; voiding it again is a no-op."""

        async def work(session: AsyncSession) -> Transfer:
            row = await movements.lock_transfer(session, hold_id)
            if row.expires_at is not None and row.status == TransferStatus.VOIDED:
                return Transfer.from_row(row)
            hold = await _pending_hold(session, hold_id, row)
            released = await movements.release(
                session, hold.debit_account_id, hold.amount, utcnow()
            )
            await movements.set_status(session, hold_id, TransferStatus.VOIDED)
            self.announce(session, "void", [hold_id], [hold.debit_account_id], [released.user_id])
            return replace(Transfer.from_row(hold), status=TransferStatus.VOIDED)

        return await self.db.transaction(work)

    async def expire_holds(self, *, now: datetime | None = None, limit: int = 500) -> int:
        """Release holds past their expiry; returns how many. Safe to run from many workers."""
        moment = now or utcnow()

        async def work(session: AsyncSession) -> int:
            query = portable.lock(
                movements.overdue_holds(moment, limit), skip_locked=True, key_share=True
            )
            ids = list((await session.execute(query)).scalars())
            if not ids:
                return 0
            rows = await session.execute(
                select(movements.transfers).where(movements.transfers.c.id.in_(ids))
            )
            # Release in account id order, the order every other writer locks accounts in.
            holds = sorted(rows, key=lambda hold: (hold.debit_account_id, hold.id))
            for hold in holds:
                await _expire(self, session, hold, moment)
            return len(holds)

        return await self.db.transaction(work)


async def _pending_hold(session: AsyncSession, hold_id: int, row: Any = None) -> Any:
    hold = row if row is not None else await movements.lock_transfer(session, hold_id)
    if hold.expires_at is None:
        raise Conflict(f"transfer {hold_id} is not a hold")
    if hold.status != TransferStatus.PENDING:
        raise Conflict(f"hold {hold_id} is already {TransferStatus(hold.status).value}")
    return hold


async def _expire(ops: HoldOperations, session: AsyncSession, hold: Any, now: datetime) -> None:
    released = await movements.release(session, hold.debit_account_id, hold.amount, now)
    await movements.set_status(session, hold.id, TransferStatus.EXPIRED)
    ops.announce(session, "expire", [hold.id], [hold.debit_account_id], [released.user_id])
