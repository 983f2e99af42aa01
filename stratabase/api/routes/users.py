"""Profiles, the social graph and relationships."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Request
from fastapi.responses import Response
from pydantic import TypeAdapter

from stratabase.api.deps import (
    CacheDep,
    CurrentUserDep,
    CursorsDep,
    DatabaseDep,
    WriterUserDep,
)
from stratabase.api.responses import Rendered, cached_answer
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
from stratabase.api.schemas.fields import page_json, page_response, parse_fields
from stratabase.api.schemas.users import FollowUserOut, UserCardOut, UserProfileOut
from stratabase.cache.keys import PROFILE, tag_user
from stratabase.pagination import Page
from stratabase.schemas.accounts import UserPublicRead
from stratabase.schemas.social import RelationshipRead
from stratabase.social import service
from stratabase.social.cards import UserInclude
from stratabase.social.results import Relationship

router = public_router("/v1/users", "users")

Edge = Literal["follow", "block", "mute"]


_PROFILE = TypeAdapter(UserProfileOut)


@router.get("", response_model=PageOut[UserCardOut])
async def list_users(
    request: Request,
    db: DatabaseDep,
    cache: CacheDep,
    codec: CursorsDep,
    search: str | None = Query(default=None, min_length=1, max_length=100),
    ids: Ids = None,
    include: Annotated[
        UserInclude | None,
        Query(description="`stats`: each user's followers, following, posts, likes received"),
    ] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
    fields: Fields = None,
) -> Response:
    """Users whose username or name starts with ``search``, or the users ``ids`` (batch,
    ≤ 100), with their counters when ``include=stats``: one statement, whatever the count.
    ``fields`` loads only the columns named."""
    model = UserPublicRead if include is None else UserCardOut
    wanted = parse_fields(fields, model)
    if wanted is not None and include is not None:
        wanted.add("stats")
    batch = parse_ids(ids)

    async def render(exact: bool) -> Rendered:
        page = await service.list_users(
            db,
            cache,
            search=search,
            ids=batch,
            codec=codec,
            cursor=cursor,
            limit=limit,
            fields=frozenset(wanted) if wanted is not None else None,
            include=frozenset([include]) if include is not None else frozenset(),
        )
        items = [card.model_dump() for card in page.items]
        body = page_json(Page(items, page.next_cursor), model, wanted)
        # A batch is kept like its cached cards (tag user:<id> of each), when all were found.
        complete = batch is not None and len(items) == len(set(batch))
        tags = tuple(tag_user(i) for i in dict.fromkeys(batch or ())) if complete else None
        return Rendered(body, tags, float(PROFILE.ttl))

    return await cached_answer(request, cache, render)


@router.get("/{user_id}", response_model=UserProfileOut)
async def get_user(
    request: Request, user_id: ObjectId, db: DatabaseDep, cache: CacheDep
) -> Response:
    """A public profile with followers, following, posts and likes received (cached; every
    write that changes it invalidates it at once)."""

    async def render(exact: bool) -> Rendered:
        profile = await service.get_profile(db, cache, user_id)
        body = _PROFILE.dump_json(_PROFILE.validate_python(profile.model_dump()))
        return Rendered(body, (tag_user(user_id),), float(PROFILE.ttl))

    return await cached_answer(request, cache, render)


@router.get("/{user_id}/relationship", response_model=RelationshipRead)
async def relationship(
    user_id: ObjectId, principal: CurrentUserDep, db: DatabaseDep
) -> Relationship:
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
) -> Response:
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
) -> Response:
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
) -> Response:
    """Whom this user follows, most recent first."""
    return await _follows("following", user_id, db, codec, cursor, limit, fields)


def _edge_routes(edge: Edge) -> None:
    async def add(
        user_id: ObjectId, principal: WriterUserDep, db: DatabaseDep, cache: CacheDep
    ) -> Relationship:
        return await service.set_edge(db, cache, principal, edge, user_id, on=True)

    async def remove(
        user_id: ObjectId, principal: WriterUserDep, db: DatabaseDep, cache: CacheDep
    ) -> Relationship:
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
