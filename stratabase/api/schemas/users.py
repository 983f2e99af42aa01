"""Profiles, their counters and follow lists."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel

from stratabase.schemas.accounts import UserPublicRead


class UserStatsOut(BaseModel):
    followers: int
    following: int
    posts: int
    likes_received: int


class UserProfileOut(UserPublicRead):
    created_at: AwareDatetime
    stats: UserStatsOut


class UserCardOut(UserPublicRead):
    """A user of the users list; ``stats`` only with ``include=stats``."""

    stats: UserStatsOut | None = None


class FollowUserOut(UserPublicRead):
    followed_at: AwareDatetime


class LikeOut(BaseModel):
    liked: bool
    likes: int


class ViewsOut(BaseModel):
    views: int
