"""Double-entry token ledger: accounts (wallets), transfers, entries, payments.

Every movement is a transfer from a debit account to a credit account with one entry per
side, so the sum of all balances never changes. Mints and burns move tokens against system
accounts (treasury, payments clearing, fees), which alone may go negative.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from stratabase.db.base import Base, CreatedAtMixin, IdMixin, TimestampsMixin
from stratabase.db.dialect_only import only_on
from stratabase.db.types import BigIntId, enum_column_type
from stratabase.enums import AccountKind, PaymentProvider, PaymentStatus, TransferStatus


class LedgerAccount(IdMixin, TimestampsMixin, Base):
    """A wallet. ``balance`` is posted funds; ``pending_debits`` is held by open holds."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("user_id", "currency"),
        UniqueConstraint("system_code", "currency"),
        CheckConstraint("kind = 'system' OR balance >= 0", name="balance_nonneg"),
        CheckConstraint("pending_debits >= 0", name="pending_nonneg"),
        CheckConstraint(
            "kind = 'system' OR balance - pending_debits >= 0", name="available_nonneg"
        ),
        CheckConstraint("earned_total >= 0 AND spent_total >= 0", name="totals_nonneg"),
        CheckConstraint(
            "(kind = 'user') = (user_id IS NOT NULL)"
            " AND (kind = 'system') = (system_code IS NOT NULL)",
            name="owner_matches_kind",
        ),
    )

    kind: Mapped[AccountKind] = mapped_column(enum_column_type(AccountKind, "kind"))
    user_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="RESTRICT")
    )
    #: treasury, payments_clearing, fees… for system accounts.
    system_code: Mapped[str | None] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(8), default="TOK")
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_debits: Mapped[int] = mapped_column(BigInteger, default=0)
    earned_total: Mapped[int] = mapped_column(BigInteger, default=0)
    spent_total: Mapped[int] = mapped_column(BigInteger, default=0)


def _partial_index(name: str, where: str, *columns: str) -> Index:
    return Index(name, *columns, sqlite_where=text(where), postgresql_where=text(where))


def _sqlite_key(column: str, referred: str) -> ForeignKeyConstraint:
    """A foreign key SQLite declares; PostgreSQL checks the reference by trigger (0005)."""
    return only_on("sqlite", ForeignKeyConstraint([column], [referred], ondelete="RESTRICT"))


class LedgerTransfer(IdMixin, CreatedAtMixin, Base):
    """One movement of ``amount`` minor units; immutable once posted (reverse to correct)."""

    __tablename__ = "ledger_transfers"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
        # References: declared keys on SQLite, one set-based check per statement on
        # PostgreSQL (migration 0005), where row-by-row key checks cost a third of a batch.
        _sqlite_key("debit_account_id", "ledger_accounts.id"),
        _sqlite_key("credit_account_id", "ledger_accounts.id"),
        _sqlite_key("pending_id", "ledger_transfers.id"),
        _sqlite_key("reverses_id", "ledger_transfers.id"),
        # Partial indexes only: a posted transfer pays for its primary, idempotency and reversal
        # keys and nothing else (account history reads ledger_entries; migration 0004).
        _partial_index(
            "ix_ledger_transfers_pending_debit", "status = 'pending'", "debit_account_id", "id"
        ),
        _partial_index("ix_ledger_transfers_pending_expiry", "status = 'pending'", "expires_at"),
        _partial_index(
            "ix_ledger_transfers_reference",
            "reference_type IS NOT NULL",
            "reference_type",
            "reference_id",
        ),
        _partial_index("ix_ledger_transfers_linked_id", "linked_id IS NOT NULL", "linked_id"),
    )

    debit_account_id: Mapped[int] = mapped_column(BigIntId)
    credit_account_id: Mapped[int] = mapped_column(BigIntId)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(8), default="TOK")
    status: Mapped[TransferStatus] = mapped_column(
        enum_column_type(TransferStatus, "status"), default=TransferStatus.POSTED
    )
    reason: Mapped[str] = mapped_column(String(200), default="")
    #: What was paid for, e.g. ("post", "42").
    reference_type: Mapped[str | None] = mapped_column(String(40))
    reference_id: Mapped[str | None] = mapped_column(String(64))
    #: Client-chosen key; a retry with the same key returns this transfer.
    #: Compared byte by byte on PostgreSQL (``COLLATE "C"``): keys are opaque, and the
    #: unique index behind every transfer then skips locale-aware comparison (migration 0004).
    idempotency_key: Mapped[str | None] = mapped_column(
        String(128).with_variant(String(128, collation="C"), "postgresql"), unique=True
    )
    #: Hash of the request body, so a reused key with a different body is refused.
    request_hash: Mapped[str | None] = mapped_column(String(64))
    #: For post/void of a hold: the pending transfer it resolves.
    pending_id: Mapped[int | None] = mapped_column(BigIntId)
    #: For a reversal: the transfer it undoes.
    reverses_id: Mapped[int | None] = mapped_column(BigIntId, unique=True)
    #: Transfers committed all-or-nothing share the id of the first of them.
    linked_id: Mapped[int | None] = mapped_column(BigInteger)
    expires_at: Mapped[datetime | None]
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)


class LedgerRefusal(CreatedAtMixin, Base):
    """A movement refused under an idempotency key (insufficient funds, no such account,
    wrong currency): the key is bound to that answer, so a retry gets the same refusal even
    once the funds are there, as a retry of a success gets the same transfer. A key is
    either here or on a transfer, never both (migration 0007)."""

    __tablename__ = "ledger_refusals"

    idempotency_key: Mapped[str] = mapped_column(
        String(128).with_variant(String(128, collation="C"), "postgresql"), primary_key=True
    )
    #: Hash of the refused request: the key with another request is a conflict.
    request_hash: Mapped[str] = mapped_column(String(64))
    #: Why (``SBIF0`` insufficient funds, ``SBNF0`` no such account, ``SBCU0`` currency);
    #: for a linked batch, followed by the index of the movement refused (``SBIF003``).
    code: Mapped[str] = mapped_column(String(8))


class LedgerEntry(IdMixin, CreatedAtMixin, Base):
    """One side of a posted transfer: negative on the debit account, positive on the credit."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_nonzero"),
        Index("ix_ledger_entries_account_id", "account_id", "id"),
        _sqlite_key("transfer_id", "ledger_transfers.id"),
        _sqlite_key("account_id", "ledger_accounts.id"),
        # SQLite's key check on deleting a transfer looks its entries up by this index;
        # PostgreSQL reads entries by transfer only in whole-table joins (``ledger verify``).
        only_on("sqlite", Index("ix_ledger_entries_transfer_id", "transfer_id")),
    )

    transfer_id: Mapped[int] = mapped_column(BigIntId)
    account_id: Mapped[int] = mapped_column(BigIntId)
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)


class Payment(IdMixin, TimestampsMixin, Base):
    """A purchase of tokens with money; ``ledger.values.Payment`` is how it reads back."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("provider", "external_id"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_payments_user_id", "user_id", "created_at"),
        Index("ix_payments_status", "status", "created_at"),
    )

    user_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("users.id", ondelete="RESTRICT"))
    provider: Mapped[PaymentProvider] = mapped_column(enum_column_type(PaymentProvider, "provider"))
    external_id: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(8), default="USD")
    status: Mapped[PaymentStatus] = mapped_column(
        enum_column_type(PaymentStatus, "status"), default=PaymentStatus.PENDING
    )
    #: Tokens credited when the payment succeeded (and reversed on refund).
    credit_transfer_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("ledger_transfers.id", ondelete="RESTRICT")
    )
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)


class PaymentEvent(IdMixin, Base):
    """A provider webhook, stored once per provider event id: replays are no-ops."""

    __tablename__ = "payment_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    provider: Mapped[PaymentProvider] = mapped_column(enum_column_type(PaymentProvider, "provider"))
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(60))
    payment_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("payments.id", ondelete="SET NULL")
    )
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime]
