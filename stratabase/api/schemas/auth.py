"""Sign-up, sign-in and session answers."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

from stratabase.schemas.accounts import UserCreate, UserRead


class RegisterIn(UserCreate):
    """Sign-up; ``device`` labels the session it opens."""

    device: str | None = Field(default=None, max_length=100)


class TokenOut(BaseModel):
    """A bearer token: send it as ``Authorization: Bearer <token>``. Shown once."""

    token: str
    token_type: str = "bearer"
    expires_at: AwareDatetime
    user: UserRead


class LogoutAllOut(BaseModel):
    """How many sessions "log out everywhere" revoked."""

    revoked: int
