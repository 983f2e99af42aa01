"""Account self-service answers (``/v1/me/…``, ``/v1/account/…``)."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel

from stratabase.schemas.accounts import UserRead


class OwnAccountOut(UserRead):
    """The caller's account, and whether its current email is verified."""

    email_verified: bool


class SessionOut(BaseModel):
    """One live sign-in: the device, IP and browser it came from, and when."""

    id: int
    device: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    created_at: AwareDatetime
    last_seen_at: AwareDatetime | None = None
    expires_at: AwareDatetime
    current: bool


class RevokedOut(BaseModel):
    """How many sessions were revoked."""

    revoked: int


class AcceptedOut(BaseModel):
    """The request was taken; what follows arrives by mail (or not, silently)."""

    detail: str


class ExportOut(BaseModel):
    """A data export: ``pending``, then ``done`` with ``data`` (or ``failed``)."""

    id: int
    status: str
    created_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    data: dict[str, Any] | None = None
