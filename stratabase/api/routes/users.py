"""Profiles, the social graph and relationships."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Query
from fastapi.responses import JSONResponse

from stratabase.api.deps import (
    CacheDep,
    CurrentUserDep,
    CursorsDep,
    DatabaseDep,
    WriterUserDep,
)
from stratabase.api.routes._params import (
    DEFAULT,
    Cursor,
    Fields,
    Ids,
    Limit,
    ObjectId,
    parse_ids,
)
from stratabase.api.routes._router import public_router
from stratabase.api.schemas.common import PageOut
from stratabase.api.schemas.fields import page_response
from stratabase.api.schemas.users import FollowUserOut, UserProfileOut
from stratabase.schemas.accounts import UserPublicRead
from stratabase.schemas.social import RelationshipRead
from stratabase.social import service

router = public_router("/v1/users", "users")

Edge = Literal["follow", "block", "mute"]


@router.get("", response_model=PageOut[UserPublicRead])
async def list_users(
    db: DatabaseDep,
    codec: CursorsDep,
    search: str | None = Query(default=None, min_length=1, max_length=100),
    ids: Ids = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
    fields: Fields = None,
) -> dict[str, Any] | JSONResponse:
    """Users whose username or name starts with ``search``, or the users ``ids`` (batch)."""
    page = await service.list_users(
        db, search=search, ids=parse_ids(ids), codec=codec, cursor=cursor, limit=limit
    )
    return page_response(page, UserPublicRead, fields)


@router.get("/{user_id}", response_model=UserProfileOut)
async def get_user(user_id: ObjectId, db: DatabaseDep, cache: CacheDep) -> dict[str, Any]:
    """A public profile with followers, following, posts and likes received."""
    return await service.get_profile(db, cache, user_id)


@router.get("/{user_id}/relationship", response_model=RelationshipRead)
async def relationship(
    user_id: ObjectId, principal: CurrentUserDep, db: DatabaseDep
) -> dict[str, Any]:
    """How the caller and this user are connected (follow, block, mute, both ways)."""
    return await service.get_relationship(db, principal, user_id)


async def _follows(
    direction: str,
    user_id: ObjectId,
    db: DatabaseDep,
    codec: CursorsDep,
    cursor: Cursor,
    limit: int,
    fields: str | None,
) -> dict[str, Any] | JSONResponse:
    page = await service.list_follows(
        db, user_id, direction=direction, codec=codec, cursor=cursor, limit=limit
    )
    return page_response(page, FollowUserOut, fields)


@router.get("/{user_id}/followers", response_model=PageOut[FollowUserOut])
async def followers(
    user_id: ObjectId,
    db: DatabaseDep,
    codec: CursorsDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
    fields: Fields = None,
) -> dict[str, Any] | JSONResponse:
    """Who follows this user, most recent first."""
    return await _follows("followers", user_id, db, codec, cursor, limit, fields)


@router.get("/{user_id}/following", response_model=PageOut[FollowUserOut])
async def following(
    user_id: ObjectId,
    db: DatabaseDep,
    codec: CursorsDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
    fields: Fields = None,
) -> dict[str, Any] | JSONResponse:
    """Whom this user follows, most recent first."""
    return await _follows("following", user_id, db, codec, cursor, limit, fields)


def _edge_routes(edge: Edge) -> None:
    async def add(
        user_id: ObjectId, principal: WriterUserDep, db: DatabaseDep, cache: CacheDep
    ) -> dict[str, Any]:
        return await service.set_edge(db, cache, principal, edge, user_id, on=True)

    async def remove(
        user_id: ObjectId, principal: WriterUserDep, db: DatabaseDep, cache: CacheDep
    ) -> dict[str, Any]:
        return await service.set_edge(db, cache, principal, edge, user_id, on=False)

    add.__doc__ = f"{edge.capitalize()} this user (idempotent); returns the relationship."
    remove.__doc__ = f"Un{edge} this user (idempotent); returns the relationship."
    router.add_api_route(
        f"/{{user_id}}/{edge}",
        add,
        methods=["POST"],
        response_model=RelationshipRead,
        name=f"{edge}_user",
    )
    router.add_api_route(
        f"/{{user_id}}/{edge}",
        remove,
        methods=["DELETE"],
        response_model=RelationshipRead,
        name=f"un{edge}_user",
    )


_edge_routes("follow")
_edge_routes("block")
_edge_routes("mute")
