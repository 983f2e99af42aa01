"""Typed answers of the users list and profiles: a public user card, with its counters.

In a card, fields that were not asked for (``fields=``) are None and were never loaded; a
:class:`Profile` always has them all.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class UserInclude(StrEnum):
    """Extras a users list may carry (``include=``)."""

    #: Followers, following, published posts and likes received (what a profile shows).
    STATS = "stats"


#: The public columns a card may hold, in answer order (``id`` is always loaded).
CARD_FIELDS = ("id", "username", "name", "avatar_url", "bio")


class UserStats(BaseModel):
    """A user's counters, as the profile shows them."""

    model_config = ConfigDict(frozen=True)

    followers: int
    following: int
    posts: int
    likes_received: int


class UserCard(BaseModel):
    """A public user; None for the fields not loaded."""

    model_config = ConfigDict(frozen=True)

    id: int
    username: str | None = None
    name: str | None = None
    avatar_url: str | None = None
    bio: str | None = None
    created_at: datetime | None = None
    stats: UserStats | None = None


class Profile(BaseModel):
    """A user's public profile with their counters (every field loaded)."""

    model_config = ConfigDict(frozen=True)

    id: int
    username: str
    name: str
    avatar_url: str | None = None
    bio: str | None = None
    created_at: datetime
    stats: UserStats
