"""Buying tokens: start a payment, and the providers' signed webhooks that settle it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request

from stratabase.api.deps import CurrentUserDep, PaymentsDep, RateLimited, WriterUserDep
from stratabase.api.routes._params import ObjectId
from stratabase.api.routes._router import api_router
from stratabase.api.schemas.ledger import WebhookOut
from stratabase.schemas.ledger import PaymentCreate, PaymentRead

#: Providers' webhooks are not rate limited (a redelivery must get through); the rest are.
router = api_router("/v1/payments", tag="payments", rate_limited=False)


@router.post("", response_model=PaymentRead, status_code=201, dependencies=[RateLimited])
async def create_payment(
    body: PaymentCreate, principal: WriterUserDep, payments: PaymentsDep
) -> PaymentRead:
    """Start a checkout; pass ``external_id`` to the provider as the payment's reference.
    The wallet is credited when the provider's webhook reports success."""
    created = await payments.create_intent(
        principal,
        body.provider,
        body.amount,
        currency=body.currency,
        metadata=body.metadata,
    )
    return PaymentRead.model_validate(created)


@router.get("/{payment_id}", response_model=PaymentRead, dependencies=[RateLimited])
async def get_payment(
    payment_id: ObjectId, principal: CurrentUserDep, payments: PaymentsDep
) -> PaymentRead:
    """The caller's payment (any payment for an admin); someone else's is 404."""
    return PaymentRead.model_validate(await payments.get_for(principal, payment_id))


@router.post("/webhooks/{provider}", response_model=WebhookOut)
async def webhook(
    provider: Annotated[str, Path(max_length=40)], request: Request, payments: PaymentsDep
) -> WebhookOut:
    """Provider notifications: no user auth, an HMAC signature instead (403 if it is bad).
    Idempotent on the provider's event id: a redelivery answers ``duplicate``."""
    body = await request.body()
    result = await payments.handle_webhook(provider, dict(request.headers), body)
    return WebhookOut.model_validate(result)
