"""HTTP shapes of the wallet and payments endpoints (requests reuse ``stratabase.schemas``)."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict

from stratabase.enums import PaymentStatus


class HistoryItemOut(BaseModel):
    """One line of a wallet statement: signed amount, balance after, what it was for.
    Rendered from ``stratabase.ledger.values.HistoryItem``, field for field."""

    model_config = ConfigDict(from_attributes=True)

    entry_id: int
    transfer_id: int
    amount: int
    balance_after: int
    counterparty_account_id: int
    reason: str
    reference_type: str | None = None
    reference_id: str | None = None
    reverses_id: int | None = None
    created_at: AwareDatetime


class WebhookOut(BaseModel):
    """A provider webhook's answer: rendered from ``ledger.payments.WebhookResult``."""

    model_config = ConfigDict(from_attributes=True)

    #: processed (the payment changed), duplicate (seen before) or ignored.
    status: str
    payment_id: int | None = None
    payment_status: PaymentStatus | None = None
    transfer_id: int | None = None
