"""Signed payment-provider webhooks: one small adapter per provider, no network.

Each adapter knows where its provider puts the signature, what bytes are signed, and how
its events name a payment and an outcome. Signatures are HMAC-SHA256 over a timestamped
message, compared in constant time, and refused outside a tolerance window (a captured
request cannot be replayed next week; a replay inside the window is a no-op anyway, since
events are stored once per provider event id). ``sign`` is the provider's half, for tests
and local tooling.

    stripe   Stripe-Signature: t=<unix>,v1=<hex>       signs "<t>.<body>"
    paypal   PayPal-Transmission-Id / -Time / -Sig      signs "<id>|<time>|<body>"
    fawry    X-Fawry-Timestamp / X-Fawry-Signature      signs "<time>.<body>"
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from stratabase.enums import PaymentProvider
from stratabase.exceptions import InvalidInput, PermissionDenied
from stratabase.models.ledger import Payment, PaymentEvent

#: Seconds a signed webhook stays acceptable.
TOLERANCE_SECONDS = 300


class Outcome(StrEnum):
    """What a provider event means for its payment."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    REFUNDED = "refunded"
    #: An event type we store but do not act on.
    OTHER = "other"


@dataclass(frozen=True)
class ProviderEvent:
    """A verified, parsed provider notification."""

    provider: PaymentProvider
    event_id: str
    event_type: str
    outcome: Outcome
    #: The payment's id at the provider (our ``payments.external_id``).
    external_id: str
    payload: dict[str, Any]


def _hmac(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str:
    lowered = {key.lower(): value for key, value in headers.items()}
    value = lowered.get(name.lower())
    if not value:
        raise PermissionDenied(f"missing {name} header")
    return value


def _fresh(timestamp: str, now: float) -> None:
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise PermissionDenied("malformed webhook timestamp") from exc
    if abs(now - sent) > TOLERANCE_SECONDS:
        raise PermissionDenied("webhook timestamp outside the tolerance window")


def _length(model: Any, column: str) -> int:
    length = model.__table__.c[column].type.length
    assert isinstance(length, int), f"{model.__name__}.{column} has no length"
    return length


def _require(payload: Any, *path: str) -> str:
    value = payload
    for part in path:
        if not isinstance(value, dict) or part not in value:
            raise InvalidInput(f"webhook payload lacks {'.'.join(path)}", field=".".join(path))
        value = value[part]
    if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
        raise InvalidInput(f"webhook field {'.'.join(path)} must be a string", field=path[-1])
    return str(value)


#: The widths of the columns an event is stored in: longer values are refused here (422)
#: on both backends, not truncated by one and refused by the other.
_EVENT_ID_MAX = _length(PaymentEvent, "event_id")
_EVENT_TYPE_MAX = _length(PaymentEvent, "event_type")
_EXTERNAL_ID_MAX = _length(Payment, "external_id")


def _fits(field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidInput(f"webhook {field} is longer than {limit} characters", field=field)


@dataclass(frozen=True)
class WebhookAdapter:
    """One provider's webhook dialect, keyed by a shared secret."""

    provider: PaymentProvider
    secret: bytes
    _signed: Callable[[Mapping[str, str], bytes, float], tuple[bytes, str]]
    _headers: Callable[[bytes, bytes, float], dict[str, str]]
    _parse: Callable[[dict[str, Any]], tuple[str, str, Outcome, str]]

    def verify(self, headers: Mapping[str, str], body: bytes, now: float | None = None) -> None:
        """Refuse (PermissionDenied) anything not signed by the holder of the secret."""
        message, signature = self._signed(headers, body, time.time() if now is None else now)
        if not hmac.compare_digest(_hmac(self.secret, message), signature):
            raise PermissionDenied(f"bad {self.provider.value} webhook signature")

    def sign(self, body: bytes, now: float | None = None) -> dict[str, str]:
        """The headers the provider would send with ``body``."""
        return self._headers(self.secret, body, time.time() if now is None else now)

    def parse(self, body: bytes) -> ProviderEvent:
        """The event in ``body``; InvalidInput if it is not the provider's format."""
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput("webhook body is not JSON") from exc
        if not isinstance(payload, dict):
            raise InvalidInput("webhook body must be a JSON object")
        event_id, event_type, outcome, external_id = self._parse(payload)
        _fits("event_id", event_id, _EVENT_ID_MAX)
        _fits("event_type", event_type, _EVENT_TYPE_MAX)
        _fits("external_id", external_id, _EXTERNAL_ID_MAX)
        return ProviderEvent(self.provider, event_id, event_type, outcome, external_id, payload)


# --- Stripe -----------------------------------------------------------------------------

_STRIPE = {
    "payment_intent.succeeded": Outcome.SUCCEEDED,
    "payment_intent.payment_failed": Outcome.FAILED,
    "payment_intent.canceled": Outcome.CANCELED,
    "charge.refunded": Outcome.REFUNDED,
}


def _stripe_signed(headers: Mapping[str, str], body: bytes, now: float) -> tuple[bytes, str]:
    parts = dict(
        item.split("=", 1)
        for item in _header(headers, "Stripe-Signature").split(",")
        if "=" in item
    )
    if "t" not in parts or "v1" not in parts:
        raise PermissionDenied("malformed Stripe-Signature header")
    _fresh(parts["t"], now)
    return parts["t"].encode() + b"." + body, parts["v1"]


def _stripe_headers(secret: bytes, body: bytes, now: float) -> dict[str, str]:
    stamp = str(int(now))
    signature = _hmac(secret, stamp.encode() + b"." + body)
    return {"Stripe-Signature": f"t={stamp},v1={signature}"}


def _stripe_parse(payload: dict[str, Any]) -> tuple[str, str, Outcome, str]:
    event_type = _require(payload, "type")
    outcome = _STRIPE.get(event_type, Outcome.OTHER)
    field = "payment_intent" if event_type.startswith("charge.") else "id"
    return _require(payload, "id"), event_type, outcome, _require(payload, "data", "object", field)


# --- PayPal -----------------------------------------------------------------------------

_PAYPAL = {
    "PAYMENT.CAPTURE.COMPLETED": Outcome.SUCCEEDED,
    "PAYMENT.CAPTURE.DENIED": Outcome.FAILED,
    "CHECKOUT.ORDER.VOIDED": Outcome.CANCELED,
    "PAYMENT.CAPTURE.REFUNDED": Outcome.REFUNDED,
}


def _paypal_signed(headers: Mapping[str, str], body: bytes, now: float) -> tuple[bytes, str]:
    transmission = _header(headers, "PayPal-Transmission-Id")
    stamp = _header(headers, "PayPal-Transmission-Time")
    _fresh(stamp, now)
    message = f"{transmission}|{stamp}|".encode() + body
    return message, _header(headers, "PayPal-Transmission-Sig")


def _paypal_headers(secret: bytes, body: bytes, now: float) -> dict[str, str]:
    transmission, stamp = str(uuid.uuid4()), str(int(now))
    return {
        "PayPal-Transmission-Id": transmission,
        "PayPal-Transmission-Time": stamp,
        "PayPal-Transmission-Sig": _hmac(secret, f"{transmission}|{stamp}|".encode() + body),
    }


def _paypal_parse(payload: dict[str, Any]) -> tuple[str, str, Outcome, str]:
    event_type = _require(payload, "event_type")
    resource = payload.get("resource")
    if isinstance(resource, dict) and resource.get("custom_id"):
        external_id = _require(payload, "resource", "custom_id")
    else:
        external_id = _require(payload, "resource", "id")
    return _require(payload, "id"), event_type, _PAYPAL.get(event_type, Outcome.OTHER), external_id


# --- Fawry ------------------------------------------------------------------------------

_FAWRY = {
    "PAID": Outcome.SUCCEEDED,
    "FAILED": Outcome.FAILED,
    "CANCELED": Outcome.CANCELED,
    "EXPIRED": Outcome.CANCELED,
    "REFUNDED": Outcome.REFUNDED,
}


def _fawry_signed(headers: Mapping[str, str], body: bytes, now: float) -> tuple[bytes, str]:
    stamp = _header(headers, "X-Fawry-Timestamp")
    _fresh(stamp, now)
    return stamp.encode() + b"." + body, _header(headers, "X-Fawry-Signature")


def _fawry_headers(secret: bytes, body: bytes, now: float) -> dict[str, str]:
    stamp = str(int(now))
    return {
        "X-Fawry-Timestamp": stamp,
        "X-Fawry-Signature": _hmac(secret, stamp.encode() + b"." + body),
    }


def _fawry_parse(payload: dict[str, Any]) -> tuple[str, str, Outcome, str]:
    status = _require(payload, "orderStatus")
    # Fawry sends one notification per status change of a reference number.
    event_id = f"{_require(payload, 'fawryRefNumber')}:{status}"
    return (
        event_id,
        status,
        _FAWRY.get(status, Outcome.OTHER),
        _require(payload, "merchantRefNumber"),
    )


_DIALECTS = {
    PaymentProvider.STRIPE: (_stripe_signed, _stripe_headers, _stripe_parse),
    PaymentProvider.PAYPAL: (_paypal_signed, _paypal_headers, _paypal_parse),
    PaymentProvider.FAWRY: (_fawry_signed, _fawry_headers, _fawry_parse),
}


def adapters(
    default_secret: str, secrets: Mapping[str, str] | None = None
) -> dict[PaymentProvider, WebhookAdapter]:
    """An adapter per provider, keyed by its own secret if given, else ``default_secret``."""
    chosen = secrets or {}
    return {
        provider: WebhookAdapter(
            provider, (chosen.get(provider.value) or default_secret).encode(), *dialect
        )
        for provider, dialect in _DIALECTS.items()
    }
