"""Profiles, their counters and follow lists."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel

from stratabase.schemas.accounts import UserPublicRead
from stratabase.schemas.common import ReadModel


class UserStatsOut(BaseModel):
    """A user's counters, as the profile and the users list (``include=stats``) show them."""

    followers: int
    following: int
    posts: int
    likes_received: int


class UserProfileOut(UserPublicRead):
    """A user's public profile with their counters."""

    created_at: AwareDatetime
    stats: UserStatsOut


class UserCardOut(UserPublicRead):
    """A user of the users list; ``stats`` only with ``include=stats``."""

    stats: UserStatsOut | None = None


class FollowUserOut(UserPublicRead):
    """A user in a followers or following list, with when the follow began."""

    followed_at: AwareDatetime


class LikeOut(ReadModel):
    """The viewer's like after the change, and the target's like count."""

    liked: bool
    likes: int


class ViewsOut(BaseModel):
    """A post's view count after recording a view."""

    views: int
