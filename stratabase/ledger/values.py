"""Plain, I/O-free ledger values: what the service returns and what its hooks receive."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from stratabase.enums import PaymentProvider, PaymentStatus, TransferStatus

#: The token currency wallets hold unless told otherwise.
DEFAULT_CURRENCY = "TOK"


class SystemAccount(StrEnum):
    """The platform's own accounts: the other side of every mint and burn; may go negative."""

    #: Source of minted tokens, sink of burned ones.
    TREASURY = "treasury"
    #: Counterpart of tokens bought with money: credited users owe it what providers settle.
    PAYMENTS_CLEARING = "payments_clearing"
    #: Platform revenue: where deducted (spent) tokens go.
    FEES = "fees"


@dataclass(frozen=True)
class Transfer:
    """One movement (or hold) as stored; ``replayed`` is True when an idempotent retry
    returned the original instead of moving anything again."""

    id: int
    debit_account_id: int
    credit_account_id: int
    amount: int
    currency: str
    status: TransferStatus
    reason: str
    created_at: datetime
    reference_type: str | None = None
    reference_id: str | None = None
    idempotency_key: str | None = None
    pending_id: int | None = None
    reverses_id: int | None = None
    linked_id: int | None = None
    expires_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False

    @classmethod
    def from_row(cls, row: Any, *, replayed: bool = False) -> Transfer:
        """From a ``ledger_transfers`` row (or its mapping), as every ledger read builds it."""
        data = row._mapping if hasattr(row, "_mapping") else row
        return cls(
            id=data["id"],
            debit_account_id=data["debit_account_id"],
            credit_account_id=data["credit_account_id"],
            amount=data["amount"],
            currency=data["currency"],
            status=TransferStatus(data["status"]),
            reason=data["reason"],
            created_at=data["created_at"],
            reference_type=data["reference_type"],
            reference_id=data["reference_id"],
            idempotency_key=data["idempotency_key"],
            pending_id=data["pending_id"],
            reverses_id=data["reverses_id"],
            linked_id=data["linked_id"],
            expires_at=data["expires_at"],
            metadata=dict(data["metadata"] or {}),
            replayed=replayed,
        )


@dataclass(frozen=True)
class Wallet:
    """An account's balances; ``available`` is what may be spent now (balance minus holds)."""

    id: int
    user_id: int | None
    system_code: str | None
    currency: str
    balance: int
    pending: int
    earned_total: int
    spent_total: int

    @property
    def available(self) -> int:
        """What may be spent now: the balance less what open holds reserve."""
        return self.balance - self.pending

    @classmethod
    def from_row(cls, row: Any) -> Wallet:
        """From a ``ledger_accounts`` row."""
        data = row._mapping
        return cls(
            id=data["id"],
            user_id=data["user_id"],
            system_code=data["system_code"],
            currency=data["currency"],
            balance=data["balance"],
            pending=data["pending_debits"],
            earned_total=data["earned_total"],
            spent_total=data["spent_total"],
        )


@dataclass(frozen=True)
class HistoryItem:
    """One entry of an account's history, with the transfer it belongs to."""

    entry_id: int
    transfer_id: int
    amount: int
    balance_after: int
    counterparty_account_id: int
    reason: str
    reference_type: str | None
    reference_id: str | None
    reverses_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class HistoryPage:
    """One page of an account's history, newest first."""

    items: list[HistoryItem]
    #: Pass as ``before`` to get the next (older) page; None on the last page.
    next_before: int | None


@dataclass(frozen=True)
class Payment:
    """A purchase of tokens with money, as stored: ``pending`` until the provider's webhook
    settles it; ``metadata["tokens"]`` is what success credits."""

    id: int
    user_id: int
    provider: PaymentProvider
    #: The reference the provider's checkout uses (``pi_…``, ``PAYID-…``, ``FWRY-…``).
    external_id: str
    #: Minor units of ``currency``.
    amount: int
    currency: str
    status: PaymentStatus
    created_at: datetime
    updated_at: datetime
    #: The credit a success made (reversed, not cleared, by a refund).
    credit_transfer_id: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Any) -> Payment:
        """From a ``payments`` row."""
        data = row._mapping
        return cls(
            id=data["id"],
            user_id=data["user_id"],
            provider=PaymentProvider(data["provider"]),
            external_id=data["external_id"],
            amount=data["amount"],
            currency=data["currency"],
            status=PaymentStatus(data["status"]),
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            credit_transfer_id=data["credit_transfer_id"],
            metadata=dict(data["metadata"] or {}),
        )


@dataclass(frozen=True)
class WalletChange:
    """What after-commit hooks learn: which accounts (and owners) a committed write touched."""

    kind: str
    transfer_ids: tuple[int, ...]
    account_ids: tuple[int, ...]
    #: Owners of the user accounts touched (system accounts have none).
    user_ids: tuple[int, ...]


WalletHook = Callable[[WalletChange], Awaitable[None] | None]


def request_hash(operation: str, fields: Mapping[str, Any]) -> str:
    """Fingerprint of a request, stored with its idempotency key: a reused key must come
    with the same request, or it is refused rather than silently answered with another."""
    canonical = json.dumps(
        {"op": operation, **fields}, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
