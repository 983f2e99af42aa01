"""Likes and the viewer-relative social graph."""

from __future__ import annotations

from stratabase.schemas.common import ReadModel


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
