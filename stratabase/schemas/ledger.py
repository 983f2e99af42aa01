"""Token ledger requests (transfers, mints, holds, payments) and their read models.

Amounts are integers in minor units, strictly typed: a float or a numeric string is a
client bug, and coercing it would move money the client did not mean to move.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import (
    AliasChoices,
    AwareDatetime,
    Field,
    StringConstraints,
    computed_field,
    model_validator,
)

from stratabase.enums import PaymentProvider, PaymentStatus, TransferStatus
from stratabase.schemas.common import Amount, Id, InputModel, Metadata, ReadModel, field_error

#: ISO 4217 code; ``usd`` is accepted and stored as ``USD``.
CurrencyCode = Annotated[
    str, StringConstraints(min_length=3, max_length=3, to_upper=True, pattern=r"^[A-Za-z]{3}$")
]


class _Movement(InputModel):
    """What every request that moves tokens carries: how much, why, and what for."""

    amount: Amount
    reason: str = Field(min_length=1, max_length=200)
    #: What was paid for, e.g. ``("post", "42")``; both or neither.
    reference_type: str | None = Field(default=None, min_length=1, max_length=40)
    reference_id: str | None = Field(
        default=None, min_length=1, max_length=64, coerce_numbers_to_str=True
    )
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _reference_paired(self) -> Self:
        if (self.reference_type is None) != (self.reference_id is None):
            missing = "reference_id" if self.reference_id is None else "reference_type"
            raise field_error(
                type(self),
                missing,
                "reference_incomplete",
                "reference_type and reference_id go together",
                None,
            )
        return self


class TransferCreate(_Movement):
    """A transfer from the caller's wallet to another user, named by user id or by the id
    of their wallet (system accounts are never a transfer's destination)."""

    to_user_id: Id | None = None
    #: Another user's wallet (an account id, as statements show counterparties).
    to_account_id: Id | None = None

    @model_validator(mode="after")
    def _one_destination(self) -> Self:
        if self.to_user_id is None and self.to_account_id is None:
            raise field_error(
                type(self),
                "to_user_id",
                "destination_missing",
                "give to_user_id or to_account_id",
                None,
            )
        if self.to_user_id is not None and self.to_account_id is not None:
            raise field_error(
                type(self),
                "to_account_id",
                "destination_ambiguous",
                "give to_user_id or to_account_id, not both",
                self.to_account_id,
            )
        return self


class CreditRequest(_Movement):
    """An administrator's mint: tokens from the treasury into a user's wallet."""

    user_id: Id


class PaymentCreate(InputModel):
    """Start a provider checkout; ``amount`` is in the currency's minor units (cents)."""

    provider: PaymentProvider
    amount: Amount
    currency: CurrencyCode = "USD"
    metadata: Metadata = Field(default_factory=dict)


# --- reads -----------------------------------------------------------------------------


class WalletRead(ReadModel):
    """A wallet's balances; ``available`` is what may be spent now (balance minus holds)."""

    id: int
    user_id: int | None = None
    currency: str
    balance: int
    #: Held by open holds (the ORM column is ``pending_debits``).
    pending: int = Field(default=0, validation_alias=AliasChoices("pending_debits", "pending"))
    earned_total: int = 0
    spent_total: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def available(self) -> int:
        """Balance less what open holds reserve."""
        return self.balance - self.pending


class TransferRead(ReadModel):
    """A transfer (or hold) as the API shows it: rendered from the ledger's one result type,
    ``stratabase.ledger.Transfer``, field for field (``replayed`` travels as a header)."""

    id: int
    debit_account_id: int
    credit_account_id: int
    amount: int
    currency: str
    status: TransferStatus
    reason: str
    reference_type: str | None = None
    reference_id: str | None = None
    pending_id: int | None = None
    reverses_id: int | None = None
    linked_id: int | None = None
    expires_at: AwareDatetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: AwareDatetime


class PaymentRead(ReadModel):
    """A payment as the API shows it: rendered from ``stratabase.ledger.Payment``."""

    id: int
    user_id: int
    provider: PaymentProvider
    external_id: str
    amount: int
    currency: str
    status: PaymentStatus
    credit_transfer_id: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: AwareDatetime
    updated_at: AwareDatetime
