"""What the social use cases return besides user cards: relationships and follow lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["FollowedUser", "Relationship"]


@dataclass(frozen=True, slots=True)
class Relationship:
    """Every edge between a viewer and ``user_id``, in one answer for a profile page."""

    user_id: int
    #: The viewer follows the user.
    following: bool
    #: The user follows the viewer.
    followed_by: bool
    #: The viewer blocks the user.
    blocking: bool
    #: The user blocks the viewer.
    blocked_by: bool
    #: The viewer mutes the user (mutes are one-way and private).
    muting: bool


@dataclass(frozen=True, slots=True)
class FollowedUser:
    """A public user in a followers or following list, with when the follow began."""

    id: int
    username: str
    name: str
    avatar_url: str | None
    bio: str | None
    followed_at: datetime
