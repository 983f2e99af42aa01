"""What clients send to the account services (validated before any service runs)."""

from __future__ import annotations

from pydantic import Field

from stratabase.schemas.accounts import Email
from stratabase.schemas.common import (
    HttpUrlStr,
    InputModel,
    LoginPassword,
    Password,
    Timezone,
    Username,
)


class ProfileUpdate(InputModel):
    """A partial profile edit: only the fields sent change; ``null`` clears bio or avatar."""

    name: str | None = Field(default=None, max_length=120)
    username: Username | None = None
    bio: str | None = Field(default=None, max_length=2000)
    avatar_url: HttpUrlStr | None = None
    #: An IANA zone name (``Europe/Paris``).
    timezone: Timezone | None = None


class PasswordChange(InputModel):
    """The current password (proof of presence) and the new one (password policy)."""

    current_password: LoginPassword
    new_password: Password


class ResetRequest(InputModel):
    """Ask for a password-reset mail."""

    email: Email


class ResetConfirm(InputModel):
    """Complete a reset with the mailed token."""

    token: str = Field(min_length=1, max_length=256)
    new_password: Password


class TokenIn(InputModel):
    """A mailed token (email verification)."""

    token: str = Field(min_length=1, max_length=256)


class AccountDeletion(InputModel):
    """Deleting an account needs its password."""

    password: LoginPassword


__all__ = [
    "AccountDeletion",
    "PasswordChange",
    "ProfileUpdate",
    "ResetConfirm",
    "ResetRequest",
    "TokenIn",
]
