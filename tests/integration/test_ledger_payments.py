"""Payments: signed webhooks credit exactly once, refunds reverse, forgeries are refused."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from stratabase.auth.principal import Principal
from stratabase.db.session import Database
from stratabase.enums import PaymentProvider, PaymentStatus, Role, UserStatus
from stratabase.exceptions import InsufficientFunds, InvalidInput, NotFound, PermissionDenied
from stratabase.ledger.payments import PaymentService
from stratabase.ledger.service import LedgerService
from stratabase.ledger.webhooks import adapters
from tests.integration.ledger_helpers import assert_books_whole, make_users

SECRET = "whsec-test"


@pytest.fixture
def payments(db: Database) -> PaymentService:
    return PaymentService(LedgerService(db), adapters(SECRET, {"fawry": "fawry-own-secret"}))


def _buyer(user_id: int) -> Principal:
    return Principal(user_id=user_id, role=Role.USER, status=UserStatus.ACTIVE)


def _event(provider: PaymentProvider, external_id: str, outcome: str, n: int = 1) -> bytes:
    """What each provider would post for ``outcome`` (succeeded or refunded)."""
    body: dict[str, Any]
    if provider is PaymentProvider.STRIPE:
        kind = {"succeeded": "payment_intent.succeeded", "refunded": "charge.refunded"}[outcome]
        field = "payment_intent" if outcome == "refunded" else "id"
        body = {"id": f"evt_{outcome}_{n}", "type": kind, "data": {"object": {field: external_id}}}
    elif provider is PaymentProvider.PAYPAL:
        kind = {"succeeded": "PAYMENT.CAPTURE.COMPLETED", "refunded": "PAYMENT.CAPTURE.REFUNDED"}
        body = {
            "id": f"WH-{outcome}-{n}",
            "event_type": kind[outcome],
            "resource": {"id": f"CAP-{n}", "custom_id": external_id},
        }
    else:
        status = {"succeeded": "PAID", "refunded": "REFUNDED"}[outcome]
        body = {"fawryRefNumber": f"99{n}", "merchantRefNumber": external_id, "orderStatus": status}
    return json.dumps(body).encode()


async def _post(payments: PaymentService, provider: PaymentProvider, body: bytes):  # type: ignore[no-untyped-def]
    headers = payments.adapters[provider].sign(body)
    return await payments.handle_webhook(provider, headers, body)


@pytest.mark.parametrize("provider", list(PaymentProvider))
async def test_success_credits_once_and_refund_reverses(
    db: Database, payments: PaymentService, provider: PaymentProvider
) -> None:
    (buyer,) = await make_users(db, 1)
    intent = await payments.create_intent(_buyer(buyer), provider, 499, tokens=500)
    assert intent.status == PaymentStatus.PENDING
    paid = _event(provider, intent.external_id, "succeeded")

    first = await _post(payments, provider, paid)
    assert (first.status, first.payment_status) == ("processed", PaymentStatus.SUCCEEDED)
    replay = await _post(payments, provider, paid)
    assert replay.status == "duplicate"
    assert await payments.ledger.balance(buyer) == 500
    stored = await payments.get(intent.id)
    assert stored.credit_transfer_id == first.transfer_id

    refunded = await _post(payments, provider, _event(provider, intent.external_id, "refunded"))
    assert refunded.payment_status == PaymentStatus.REFUNDED
    assert await payments.ledger.balance(buyer) == 0
    assert (
        await payments.ledger.get_transfer(refunded.transfer_id)
    ).reverses_id == first.transfer_id  # type: ignore[arg-type]
    await assert_books_whole(db)


async def test_concurrent_duplicate_deliveries_credit_once(
    db: Database, payments: PaymentService
) -> None:
    (buyer,) = await make_users(db, 1)
    intent = await payments.create_intent(_buyer(buyer), PaymentProvider.STRIPE, 1000)
    paid = _event(PaymentProvider.STRIPE, intent.external_id, "succeeded")
    # the same event delivered five times at once, and a second event id for the same success
    again = _event(PaymentProvider.STRIPE, intent.external_id, "succeeded", n=2)
    results = await asyncio.gather(
        *[_post(payments, PaymentProvider.STRIPE, paid) for _ in range(5)],
        _post(payments, PaymentProvider.STRIPE, again),
    )
    assert sorted(r.status for r in results).count("processed") == 1
    assert await payments.ledger.balance(buyer) == 1000
    await assert_books_whole(db)


async def test_forged_tampered_and_stale_webhooks_are_refused(
    db: Database, payments: PaymentService
) -> None:
    (buyer,) = await make_users(db, 1)
    intent = await payments.create_intent(_buyer(buyer), PaymentProvider.STRIPE, 300)
    paid = _event(PaymentProvider.STRIPE, intent.external_id, "succeeded")
    adapter = payments.adapters[PaymentProvider.STRIPE]
    headers = adapter.sign(paid)
    tampered = paid.replace(b"evt_", b"evx_")
    with pytest.raises(PermissionDenied, match="bad stripe webhook signature"):
        await payments.handle_webhook("stripe", headers, tampered)
    forged = adapters("not-the-secret")[PaymentProvider.STRIPE].sign(paid)
    with pytest.raises(PermissionDenied):
        await payments.handle_webhook("stripe", forged, paid)
    stale = adapter.sign(paid, now=time.time() - 3600)
    with pytest.raises(PermissionDenied, match="tolerance"):
        await payments.handle_webhook("stripe", stale, paid)
    with pytest.raises(PermissionDenied, match="missing Stripe-Signature"):
        await payments.handle_webhook("stripe", {}, paid)
    # fawry has its own secret: the default one does not sign for it
    fawry_body = _event(PaymentProvider.FAWRY, "FWRY-x", "succeeded")
    with pytest.raises(PermissionDenied):
        await payments.handle_webhook(
            "fawry", adapters(SECRET)[PaymentProvider.FAWRY].sign(fawry_body), fawry_body
        )
    with pytest.raises(NotFound):
        await payments.handle_webhook("venmo", headers, paid)
    assert await payments.ledger.balance(buyer) == 0
    assert (await payments.get(intent.id)).status == PaymentStatus.PENDING


async def test_malformed_and_unknown_events(db: Database, payments: PaymentService) -> None:
    body = b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": {}}'
    with pytest.raises(InvalidInput, match=r"data\.object\.id"):
        await _post(payments, PaymentProvider.STRIPE, body)
    unknown = _event(PaymentProvider.STRIPE, "pi_nobody", "succeeded")
    assert (await _post(payments, PaymentProvider.STRIPE, unknown)).status == "ignored"


async def test_refund_of_spent_tokens_waits_for_funds(
    db: Database, payments: PaymentService
) -> None:
    (buyer,) = await make_users(db, 1)
    ledger = payments.ledger
    intent = await payments.create_intent(_buyer(buyer), PaymentProvider.PAYPAL, 200)
    await _post(
        payments,
        PaymentProvider.PAYPAL,
        _event(PaymentProvider.PAYPAL, intent.external_id, "succeeded"),
    )
    await ledger.deduct(buyer, 150, reason="generation")
    refund = _event(PaymentProvider.PAYPAL, intent.external_id, "refunded")
    with pytest.raises(InsufficientFunds):
        await _post(payments, PaymentProvider.PAYPAL, refund)
    assert (await payments.get(intent.id)).status == PaymentStatus.SUCCEEDED
    await ledger.credit(buyer, 150, reason="goodwill")
    retried = await _post(payments, PaymentProvider.PAYPAL, refund)
    assert retried.status == "processed"
    assert await ledger.balance(buyer) == 0
    await assert_books_whole(db)
