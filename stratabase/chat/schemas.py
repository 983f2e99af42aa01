"""What chat clients send and get back."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from stratabase.enums import ChatRole
from stratabase.schemas.common import MAX_ID

#: Most tokens one message may declare (in or out): far above any model's context.
MAX_MESSAGE_TOKENS = 1_000_000


class ChatSessionCreate(BaseModel):
    """A new conversation, optionally about one project of the caller's organization."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    project_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    title: str = Field(default="", max_length=200)


class ChatSessionRead(BaseModel):
    """A conversation and whose it is."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    project_id: int | None
    title: str
    created_at: datetime
    updated_at: datetime


class ChatMessageCreate(BaseModel):
    """One message and the tokens it cost; the tokens count against the daily quota."""

    model_config = ConfigDict(extra="forbid")

    role: ChatRole = ChatRole.USER
    content: str = Field(min_length=1, max_length=100_000)
    tokens_in: int = Field(default=0, ge=0, le=MAX_MESSAGE_TOKENS)
    tokens_out: int = Field(default=0, ge=0, le=MAX_MESSAGE_TOKENS)


class ChatMessageRead(BaseModel):
    """A stored message."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    session_id: int
    role: ChatRole
    content: str
    tokens_in: int
    tokens_out: int
    created_at: datetime
