"""Buying tokens with money: payment intents and the provider webhooks that settle them.

A succeeded payment credits the buyer's wallet from ``payments_clearing`` exactly once; a
refund reverses that credit. Each webhook is stored once per (provider, event id) in the
same transaction as its effect, so a replayed or concurrent duplicate does nothing. If
a refund finds the tokens already spent, it is refused (409) and not recorded, so the
provider's retry can settle it once the wallet holds the tokens again.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth.principal import Principal
from stratabase.db import portable
from stratabase.db.types import utcnow
from stratabase.enums import PaymentProvider, PaymentStatus
from stratabase.exceptions import InvalidInput, NotFound
from stratabase.ledger import accounts, movements
from stratabase.ledger.service import LedgerService
from stratabase.ledger.values import DEFAULT_CURRENCY, Payment, SystemAccount, request_hash
from stratabase.ledger.webhooks import Outcome, ProviderEvent, WebhookAdapter
from stratabase.models.ledger import Payment as PaymentRow
from stratabase.models.ledger import PaymentEvent

payments = cast(Table, PaymentRow.__table__)
events = cast(Table, PaymentEvent.__table__)

_ID_PREFIX = {
    PaymentProvider.STRIPE: "pi_",
    PaymentProvider.PAYPAL: "PAYID-",
    PaymentProvider.FAWRY: "FWRY-",
}


@dataclass(frozen=True)
class WebhookResult:
    """What one provider notification did (the webhook's answer)."""

    #: processed: it changed the payment; duplicate: seen before; ignored: nothing to do.
    status: str
    payment_id: int | None = None
    payment_status: PaymentStatus | None = None
    transfer_id: int | None = None


class PaymentService:
    """Payment intents and webhooks; tokens move through the ledger it is given."""

    def __init__(
        self, ledger: LedgerService, adapters: Mapping[PaymentProvider, WebhookAdapter]
    ) -> None:
        self.ledger = ledger
        self.db = ledger.db
        self.adapters = dict(adapters)

    async def create_intent(
        self,
        principal: Principal,
        provider: PaymentProvider | str,
        amount: int,
        *,
        currency: str = "USD",
        tokens: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Payment:
        """Record a pending payment of the caller's; its ``external_id`` is the reference
        the checkout uses. Suspended accounts may not buy (PermissionDenied).

        ``tokens`` (default: one per minor unit of ``amount``) is what success will credit.
        """
        principal.require_writer()
        user_id = principal.user_id
        if isinstance(amount, bool) or amount <= 0:
            raise InvalidInput("amount must be a positive integer (minor units)", field="amount")
        credited = amount if tokens is None else tokens
        if isinstance(credited, bool) or credited <= 0:
            raise InvalidInput("tokens must be a positive integer", field="tokens")
        provider = PaymentProvider(provider)
        external_id = _ID_PREFIX[provider] + secrets.token_hex(12)

        async def work(session: AsyncSession) -> Payment:
            await accounts.wallet_id(session, user_id)  # refuses an unknown user early
            now = utcnow()
            row = await session.execute(
                insert(payments)
                .values(
                    user_id=user_id,
                    provider=provider.value,
                    external_id=external_id,
                    amount=amount,
                    currency=currency.upper(),
                    status=PaymentStatus.PENDING.value,
                    metadata={**(metadata or {}), "tokens": credited},
                    created_at=now,
                    updated_at=now,
                )
                .returning(payments)
            )
            return Payment.from_row(row.one())

        return await self.db.transaction(work)

    async def get(self, payment_id: int) -> Payment:
        """Any payment by id (a trusted caller: CLI, jobs, library); NotFound if none."""
        async with self.db.session() as session:
            row = (
                await session.execute(select(payments).where(payments.c.id == payment_id))
            ).first()
        if row is None:
            raise NotFound(f"payment {payment_id} does not exist", field="payment_id")
        return Payment.from_row(row)

    async def get_for(self, principal: Principal, payment_id: int) -> Payment:
        """``payment_id`` if it is the caller's (or the caller is an admin); someone else's
        payment is NotFound, so ids do not tell which payments exist."""
        found = await self.get(payment_id)
        if found.user_id != principal.user_id and not principal.is_admin:
            raise NotFound(f"payment {payment_id} does not exist", field="payment_id")
        return found

    async def handle_webhook(
        self, provider: PaymentProvider | str, headers: Mapping[str, str], body: bytes
    ) -> WebhookResult:
        """Verify, parse and apply one provider notification, exactly once."""
        try:
            adapter = self.adapters[PaymentProvider(provider)]
        except (ValueError, KeyError) as exc:
            raise NotFound(f"unknown payment provider {provider!r}", field="provider") from exc
        adapter.verify(headers, body)
        event = adapter.parse(body)
        return await self.db.transaction(lambda session: self._apply(session, event))

    async def _apply(self, session: AsyncSession, event: ProviderEvent) -> WebhookResult:
        row = {
            "provider": event.provider.value,
            "event_id": event.event_id,
            "event_type": event.event_type[:60],
            "payload": event.payload,
            "received_at": utcnow(),
        }
        stored = await session.execute(
            portable.insert_or_ignore(session, events, row).returning(events.c.id)
        )
        event_row_id = stored.scalar_one_or_none()
        if event_row_id is None:
            return WebhookResult("duplicate")
        query = portable.lock(
            select(payments).where(
                payments.c.provider == event.provider.value,
                payments.c.external_id == event.external_id,
            ),
            key_share=True,
        )
        payment = (await session.execute(query)).first()
        if payment is None:
            return WebhookResult("ignored")
        await session.execute(
            update(events).where(events.c.id == event_row_id).values(payment_id=payment.id)
        )
        status = PaymentStatus(payment.status)
        transfer_id: int | None = None
        if event.outcome is Outcome.SUCCEEDED and status in (
            PaymentStatus.PENDING,
            PaymentStatus.FAILED,
            PaymentStatus.CANCELED,
        ):
            transfer_id = await self._credit(session, payment)
            new_status = PaymentStatus.SUCCEEDED
        elif event.outcome is Outcome.REFUNDED and status is PaymentStatus.SUCCEEDED:
            transfer_id = await self._refund(session, payment)
            new_status = PaymentStatus.REFUNDED
        elif event.outcome is Outcome.FAILED and status is PaymentStatus.PENDING:
            new_status = PaymentStatus.FAILED
        elif event.outcome is Outcome.CANCELED and status is PaymentStatus.PENDING:
            new_status = PaymentStatus.CANCELED
        else:  # out of order, already settled, or informational
            return WebhookResult("ignored", payment.id, status)
        values: dict[str, Any] = {"status": new_status.value, "updated_at": utcnow()}
        if new_status is PaymentStatus.SUCCEEDED:
            values["credit_transfer_id"] = transfer_id
        await session.execute(update(payments).where(payments.c.id == payment.id).values(values))
        return WebhookResult("processed", payment.id, new_status, transfer_id)

    async def _credit(self, session: AsyncSession, payment: Any) -> int:
        tokens = int((payment.metadata or {}).get("tokens") or payment.amount)
        clearing = await accounts.system_account_id(session, SystemAccount.PAYMENTS_CLEARING)
        wallet = await accounts.wallet_id(session, payment.user_id)
        movement = movements.Movement(
            clearing,
            wallet,
            tokens,
            DEFAULT_CURRENCY,
            f"{payment.provider} payment",
            "payment",
            str(payment.id),
        )
        key = f"payment:{payment.id}:credit"
        digest = request_hash("payment-credit", {"payment": payment.id, "tokens": tokens})
        result, owners = await movements.move(session, movement, key=key, request_hash=digest)
        self.ledger.announce(session, "payment", [result.id], [clearing, wallet], owners)
        return result.id

    async def _refund(self, session: AsyncSession, payment: Any) -> int:
        credit = await movements.lock_transfer(session, payment.credit_transfer_id)
        movement = movements.Movement(
            credit.credit_account_id,
            credit.debit_account_id,
            credit.amount,
            credit.currency,
            f"{payment.provider} refund",
            "payment",
            str(payment.id),
        )
        result, owners = await movements.move(
            session,
            movement,
            key=f"payment:{payment.id}:refund",
            request_hash=request_hash("payment-refund", {"payment": payment.id}),
            extra={"reverses_id": credit.id},
        )
        touched = [credit.debit_account_id, credit.credit_account_id]
        self.ledger.announce(session, "refund", [result.id], touched, owners)
        return result.id
