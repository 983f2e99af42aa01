"""Organizations, users and sign-in: what clients may send, and what they get back."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, EmailStr, Field, StringConstraints

from stratabase.enums import Plan, Role, UserStatus
from stratabase.schemas.common import (
    BigCount,
    HttpUrlStr,
    InputModel,
    LoginPassword,
    Password,
    ReadModel,
    Slug,
    Timezone,
    UpdateModel,
    Username,
)

#: Lower-cased as a whole: the column has CHECK (email = lower(email)) so that uniqueness
#: is case-insensitive on both backends.
Email = Annotated[EmailStr, StringConstraints(max_length=320), AfterValidator(str.lower)]

# --- organizations ---------------------------------------------------------------------


class OrganizationCreate(InputModel):
    """A new organization; plan and quota default to the free tier."""

    name: str = Field(min_length=1, max_length=200)
    slug: Slug
    plan: Plan = Plan.FREE
    token_quota: BigCount = 0


class OrganizationUpdate(UpdateModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    slug: Slug | None = None
    plan: Plan | None = None
    token_quota: BigCount | None = None


class OrganizationRead(ReadModel):
    id: int
    name: str
    slug: str
    plan: Plan
    token_quota: int
    created_at: AwareDatetime
    updated_at: AwareDatetime


# --- users -----------------------------------------------------------------------------


class UserCreate(InputModel):
    """Sign-up. Role and status are not the user's to choose (see AdminUserUpdate)."""

    email: Email
    username: Username
    name: str = Field(default="", max_length=120)
    password: Password
    timezone: Timezone = "UTC"
    avatar_url: HttpUrlStr | None = None
    bio: str | None = Field(default=None, max_length=2000)


class UserUpdate(UpdateModel):
    """Profile edits. Email, password and role change through their own flows."""

    nullable_fields = frozenset({"avatar_url", "bio"})

    username: Username | None = None
    name: str | None = Field(default=None, max_length=120)
    timezone: Timezone | None = None
    avatar_url: HttpUrlStr | None = None
    bio: str | None = Field(default=None, max_length=2000)


class AdminUserUpdate(UpdateModel):
    """What only an administrator may change on an account."""

    role: Role | None = None
    status: UserStatus | None = None


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
