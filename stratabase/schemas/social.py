"""Likes and the viewer-relative social graph."""

from __future__ import annotations

from pydantic import AwareDatetime

from stratabase.enums import LikeTarget
from stratabase.schemas.common import Id, InputModel, ReadModel


class LikeCreate(InputModel):
    """A like; the liker is the caller, and liking twice is a no-op (the primary key)."""

    target_type: LikeTarget
    target_id: Id


class LikeRead(ReadModel):
    user_id: int
    target_type: LikeTarget
    target_id: int
    created_at: AwareDatetime


class RelationshipRead(ReadModel):
    """How the viewer and ``user_id`` relate, all edges in one answer for a profile page."""

    user_id: int
    #: The viewer follows the user.
    following: bool = False
    #: The user follows the viewer.
    followed_by: bool = False
    #: The viewer blocks the user.
    blocking: bool = False
    #: The user blocks the viewer.
    blocked_by: bool = False
    #: The viewer mutes the user (mutes are one-way and private).
    muting: bool = False
