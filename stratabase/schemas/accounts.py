"""Organizations, users and sign-in: what clients may send, and what they get back."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

from stratabase.auth.password_policy import personal_problem
from stratabase.enums import Role, UserStatus
from stratabase.schemas.common import (
    HttpUrlStr,
    InputModel,
    LoginPassword,
    Password,
    ReadModel,
    Timezone,
    Username,
    field_error,
)

#: Lower-cased as a whole: the column has CHECK (email = lower(email)) so that uniqueness
#: is case-insensitive on both backends.
Email = Annotated[EmailStr, StringConstraints(max_length=320), AfterValidator(str.lower)]

# --- organizations ---------------------------------------------------------------------


# --- users -----------------------------------------------------------------------------


class UserCreate(InputModel):
    """Sign-up. Role and status are not the user's to choose."""

    email: Email
    username: Username
    name: str = Field(default="", max_length=120)
    password: Password
    timezone: Timezone = "UTC"
    avatar_url: HttpUrlStr | None = None
    bio: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _password_not_personal(self) -> Self:
        password = self.password.get_secret_value()
        problem = personal_problem(password, username=self.username, email=self.email)
        if problem is not None:
            raise field_error(type(self), "password", "password_policy", problem, "**********")
        return self


class UserPublicRead(ReadModel):
    """A profile as anyone may see it: no email, no account state."""

    id: int
    username: str
    name: str
    avatar_url: str | None = None
    bio: str | None = None


class UserRead(UserPublicRead):
    """The account as its owner (or an admin) sees it; the password hash never leaves."""

    email: str
    timezone: str
    role: Role
    status: UserStatus
    organization_id: int | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class LoginRequest(InputModel):
    """Email and password sign-in; ``device`` labels the session in the session list."""

    email: Email
    password: LoginPassword
    device: str | None = Field(default=None, max_length=100)
