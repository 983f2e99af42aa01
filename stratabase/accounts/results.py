"""What the account services return: typed, never an ORM row, never a secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stratabase.accounts.mailer import Mail
from stratabase.auth.service import Account


@dataclass(frozen=True)
class OwnAccount:
    """The caller's account, with whether its current email is verified."""

    account: Account
    email_verified: bool


@dataclass(frozen=True)
class SessionInfo:
    """One live sign-in of the caller, as the session list shows it."""

    id: int
    device: str | None
    ip: str | None
    user_agent: str | None
    created_at: datetime
    last_seen_at: datetime | None
    expires_at: datetime
    #: True for the session the request itself was made with.
    current: bool


@dataclass(frozen=True)
class ExportInfo:
    """A data export: pending until its job ran, then done (with ``data``) or failed."""

    id: int
    status: str
    created_at: datetime
    finished_at: datetime | None = None
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class PendingMail:
    """A message the service decided to send; the caller delivers it (after answering, so
    a request's timing does not tell whether a message was sent)."""

    mail: Mail


__all__ = ["ExportInfo", "OwnAccount", "PendingMail", "SessionInfo"]
