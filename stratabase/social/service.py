"""Follow, block and mute: idempotent edges with the rules the seeds enforce.

A user blocked by X cannot follow X; blocking removes the follow edges both ways, so a
block also ends the blocked user's subscription to the blocker's posts.

The public profile with its counters is cached (``profile:<id>``, tag ``user:<id>``); every
write that changes a counter (follow, unfollow, a block that removes follows; posts and
likes in ``stratabase.content.service``) invalidates ``user:<id>`` of both ends after commit.
Every edge also invalidates ``feed:<actor>`` (and a block ``feed:<blocked>``): the tag of
the actor's cached home feed and every page filtered for them. Follows and blocks
also invalidate ``stats`` (the platform's follow count).
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth.principal import Principal
from stratabase.cache import Cache, invalidate_tags_after_commit
from stratabase.cache.keys import PROFILE, TAG_STATS, tag_feed, tag_user
from stratabase.changes import emit
from stratabase.db import portable
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.exceptions import InvalidInput, PermissionDenied
from stratabase.models import Block, Follow, Mute
from stratabase.pagination import CursorCodec, Page
from stratabase.social import queries
from stratabase.social.cards import Profile, UserCard, UserInclude
from stratabase.social.results import FollowedUser, Relationship

_EDGES: dict[str, tuple[Any, str, str]] = {
    "follow": (Follow, "follower_id", "followee_id"),
    "block": (Block, "blocker_id", "blocked_id"),
    "mute": (Mute, "muter_id", "muted_id"),
}


async def set_edge(
    db: Database, cache: Cache, actor: Principal, kind: str, user_id: int, *, on: bool
) -> Relationship:
    """Create or remove a follow/block/mute edge; returns the resulting relationship."""
    actor.require_writer()
    if user_id == actor.user_id:
        raise InvalidInput(f"you cannot {kind} yourself", field="user_id")
    model, mine, theirs = _EDGES[kind]

    async def work(session: AsyncSession) -> Relationship:
        await queries.get_user(session, user_id)
        if on:
            if kind == "follow":
                await _check_can_follow(session, actor.user_id, user_id)
            edge = {mine: actor.user_id, theirs: user_id, "created_at": utcnow()}
            added = await session.execute(portable.insert_or_ignore(session, model, edge))
            changed = bool(added.rowcount)  # type: ignore[attr-defined]
            if kind == "block":
                # a block ends follows both ways: each one ended is a follow.removed
                ended = await session.execute(
                    delete(Follow)
                    .where(
                        or_(
                            (Follow.follower_id == actor.user_id) & (Follow.followee_id == user_id),
                            (Follow.follower_id == user_id) & (Follow.followee_id == actor.user_id),
                        )
                    )
                    .returning(Follow.follower_id, Follow.followee_id)
                )
                for follower, followee in ended.all():
                    await emit.follow_changed(session, follower, followee, followed=False)
        else:
            removed = await session.execute(
                delete(model).where(
                    getattr(model, mine) == actor.user_id, getattr(model, theirs) == user_id
                )
            )
            changed = bool(removed.rowcount)  # type: ignore[attr-defined]
        invalidate_tags_after_commit(session, cache, _stale_by_edge(kind, actor.user_id, user_id))
        # One event per actual change of the edge: a follow that was there already, or an
        # unfollow of nobody, emits nothing (a follow after an unfollow is a change again).
        if kind == "follow" and changed:
            await emit.follow_changed(session, actor.user_id, user_id, followed=on)
        return await queries.relationship(session, actor.user_id, user_id)

    return await db.transaction(work)


def _stale_by_edge(kind: str, actor_id: int, user_id: int) -> list[str]:
    """Follows (and a block's removal of them) change both profiles; every edge changes
    what the actor's feeds and searches show, and a block also what the blocked user's
    show (the blocker's posts disappear from them)."""
    if kind == "mute":
        return [tag_feed(actor_id)]
    # follows also change the platform's follow count (a block may remove follows)
    stale = [tag_user(actor_id), tag_user(user_id), tag_feed(actor_id), TAG_STATS]
    if kind == "block":
        stale.append(tag_feed(user_id))
    return stale


async def _check_can_follow(session: AsyncSession, follower: int, followee: int) -> None:
    await queries.require_not_blocked(session, followee, follower)
    blocking = await session.scalar(
        select(exists().where(Block.blocker_id == follower, Block.blocked_id == followee))
    )
    if blocking:
        raise PermissionDenied("unblock this user before following them")


# --- reads ------------------------------------------------------------------------------


async def get_profile(db: Database, cache: Cache, user_id: int) -> Profile:
    """The public profile with followers, following, posts and likes received (cached as
    JSON data, the form the cache stores)."""

    async def load() -> dict[str, Any]:
        async with db.session() as session:
            return (await queries.profile(session, user_id)).model_dump(mode="json")

    cached = await cache.get_or_load(PROFILE.key(user_id), load, tags=[tag_user(user_id)])
    return Profile.model_validate(cached)


async def get_relationship(db: Database, viewer: Principal, user_id: int) -> Relationship:
    """Every edge between the viewer and the user; NotFound if the user is gone."""
    async with db.session() as session:
        await queries.get_user(session, user_id)
        return await queries.relationship(session, viewer.user_id, user_id)


async def list_follows(
    db: Database,
    user_id: int,
    *,
    direction: str,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[FollowedUser]:
    """One page of a user's followers or followees, newest edge first."""
    async with db.session() as session:
        return await queries.follow_page(
            session, user_id, direction=direction, codec=codec, cursor=cursor, limit=limit
        )


async def list_users(
    db: Database,
    cache: Cache | None = None,
    *,
    search: str | None,
    ids: list[int] | None,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
    fields: frozenset[str] | None = None,
    include: frozenset[UserInclude] = frozenset(),
) -> Page[UserCard]:
    """A page of users (optionally by name prefix), or exactly ``ids`` in that order (the
    seeds' getMultipleUsers, with ``include={stats}`` also getUserStats): only ``fields``
    (None: all) are loaded, and the counters only when included. One statement either way.

    A batch by ``ids`` is cached (``profile:batch:<digest>``) with the tag ``user:<id>`` of
    every user in it, which every write changing a card or its counters invalidates after
    commit (as for :func:`get_profile`; a deleted or restored account too): never stale. A
    batch naming an id that does not exist is answered but not stored, so a user created
    later shows up on the next read.
    """
    stats = UserInclude.STATS in include
    if ids is None:
        async with db.session() as session:
            return await queries.card_page(
                session,
                search=search,
                fields=fields,
                stats=stats,
                codec=codec,
                cursor=cursor,
                limit=limit,
            )
    wanted = list(dict.fromkeys(ids))

    async def load() -> dict[str, Any]:
        async with db.session() as session:
            cards, known = await queries.cards_by_ids(session, wanted, fields=fields, stats=stats)
        found = {str(i): card.model_dump(mode="json") for i, card in cards.items()}
        if len(known) < len(wanted):
            raise _Incomplete(found)
        return found

    if cache is None:
        found = await _complete(load)
    else:
        digest = hashlib.sha256(
            repr((sorted(wanted), sorted(fields or ()), fields is None, stats)).encode()
        ).hexdigest()[:32]
        key = PROFILE.key("batch", digest)
        tags = [tag_user(i) for i in wanted]
        found = await _complete(lambda: cache.get_or_load(key, load, tags=tags))
    return Page([UserCard.model_validate(found[str(i)]) for i in wanted if str(i) in found], None)


async def _complete(load: Any) -> dict[str, Any]:
    try:
        found: dict[str, Any] = await load()
    except _Incomplete as incomplete:
        return incomplete.found
    return found


class _Incomplete(Exception):
    """Some ids name no live user: the answer is returned, never stored."""

    def __init__(self, found: dict[str, Any]) -> None:
        super().__init__("incomplete batch")
        self.found = found
