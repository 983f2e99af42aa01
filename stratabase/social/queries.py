"""Reads of the social graph: block checks, relationships, follower pages, profile stats."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.enums import PostStatus, UserStatus
from stratabase.exceptions import NotFound, PermissionDenied
from stratabase.models import Block, Follow, Mute, Post, PostStats, User
from stratabase.pagination import CursorCodec, Page, after
from stratabase.social.cards import CARD_FIELDS, Profile, UserCard, UserStats
from stratabase.social.results import FollowedUser, Relationship


async def require_not_blocked(session: AsyncSession, owner_id: int, actor_id: int) -> None:
    """Refuse when ``owner_id`` has blocked ``actor_id`` (no follow, comment or like)."""
    if owner_id == actor_id:
        return
    blocked = await session.scalar(
        select(exists().where(Block.blocker_id == owner_id, Block.blocked_id == actor_id))
    )
    if blocked:
        raise PermissionDenied("this user has blocked you")


def hidden_authors(viewer_id: int) -> ColumnElement[bool]:
    """Condition on ``Post.author_id``: authors the viewer muted or blocked, or who blocked
    the viewer. Used to keep them out of the viewer's feeds."""
    return or_(
        Post.author_id.in_(select(Mute.muted_id).where(Mute.muter_id == viewer_id)),
        Post.author_id.in_(select(Block.blocked_id).where(Block.blocker_id == viewer_id)),
        Post.author_id.in_(select(Block.blocker_id).where(Block.blocked_id == viewer_id)),
    )


async def get_user(session: AsyncSession, user_id: int) -> User:
    """The user, or :class:`NotFound` on ``user_id`` if missing or deleted."""
    user = await session.get(User, user_id)
    if user is None or user.status == UserStatus.DELETED:
        raise NotFound(f"user {user_id} does not exist", field="user_id")
    return user


async def relationship(session: AsyncSession, viewer_id: int, user_id: int) -> Relationship:
    """Every edge between the two users, in one statement."""

    def edge(model: Any, left: Any, right: Any, a: int, b: int) -> Any:
        return exists().where(left == a, right == b)

    row = (
        await session.execute(
            select(
                edge(Follow, Follow.follower_id, Follow.followee_id, viewer_id, user_id),
                edge(Follow, Follow.follower_id, Follow.followee_id, user_id, viewer_id),
                edge(Block, Block.blocker_id, Block.blocked_id, viewer_id, user_id),
                edge(Block, Block.blocker_id, Block.blocked_id, user_id, viewer_id),
                edge(Mute, Mute.muter_id, Mute.muted_id, viewer_id, user_id),
            )
        )
    ).one()
    return Relationship(
        user_id=user_id,
        following=bool(row[0]),
        followed_by=bool(row[1]),
        blocking=bool(row[2]),
        blocked_by=bool(row[3]),
        muting=bool(row[4]),
    )


def _stats_columns(user_id_column: Any) -> list[Any]:
    return [
        select(func.count())
        .where(Follow.followee_id == user_id_column)
        .scalar_subquery()
        .label("followers"),
        select(func.count())
        .where(Follow.follower_id == user_id_column)
        .scalar_subquery()
        .label("following"),
        select(func.count())
        .where(Post.author_id == user_id_column, Post.status == PostStatus.PUBLISHED)
        .scalar_subquery()
        .label("posts"),
        select(func.coalesce(func.sum(PostStats.likes), 0))
        .join(Post, Post.id == PostStats.post_id)
        .where(Post.author_id == user_id_column)
        .scalar_subquery()
        .label("likes_received"),
    ]


def _with_stats(statement: Any, ids: list[int]) -> Any:
    """``statement`` (on ``users``) with the four counters of the users ``ids``, as grouped
    aggregates joined on the user: each aggregate is an index range scan over the ids
    (``follows`` by followee and by follower, ``posts`` by author, ``post_stats`` by post),
    done once for the batch rather than once per user."""
    followers = (
        select(Follow.followee_id.label("uid"), func.count().label("n"))
        .where(Follow.followee_id.in_(ids))
        .group_by(Follow.followee_id)
        .subquery()
    )
    following = (
        select(Follow.follower_id.label("uid"), func.count().label("n"))
        .where(Follow.follower_id.in_(ids))
        .group_by(Follow.follower_id)
        .subquery()
    )
    authored = (
        select(
            Post.author_id.label("uid"),
            func.sum(case((Post.status == PostStatus.PUBLISHED, 1), else_=0)).label("posts"),
            func.sum(func.coalesce(PostStats.likes, 0)).label("likes"),
        )
        .outerjoin(PostStats, PostStats.post_id == Post.id)
        .where(Post.author_id.in_(ids))
        .group_by(Post.author_id)
        .subquery()
    )
    return (
        statement.add_columns(
            func.coalesce(followers.c.n, 0).label("followers"),
            func.coalesce(following.c.n, 0).label("following"),
            func.coalesce(authored.c.posts, 0).label("posts"),
            func.coalesce(authored.c.likes, 0).label("likes_received"),
        )
        .outerjoin(followers, followers.c.uid == User.id)
        .outerjoin(following, following.c.uid == User.id)
        .outerjoin(authored, authored.c.uid == User.id)
    )


async def profile(session: AsyncSession, user_id: int) -> Profile:
    """A public profile with its counters, in one statement."""
    row = (
        await session.execute(
            _with_stats(select(User), [user_id]).where(
                User.id == user_id, User.status != UserStatus.DELETED
            )
        )
    ).first()
    if row is None:
        raise NotFound(f"user {user_id} does not exist", field="user_id")
    user = row[0]
    return Profile(
        id=user.id,
        username=user.username,
        name=user.name,
        avatar_url=user.avatar_url,
        bio=user.bio,
        created_at=user.created_at,
        stats=_stats_of(row),
    )


async def follow_page(
    session: AsyncSession,
    user_id: int,
    *,
    direction: str,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[FollowedUser]:
    """Followers (``direction="followers"``) or followees, newest edge first: one statement."""
    await get_user(session, user_id)
    if direction == "followers":
        mine, other = Follow.followee_id, Follow.follower_id
    else:
        mine, other = Follow.follower_id, Follow.followee_id
    columns = (Follow.created_at, other)
    statement = (
        select(User, Follow.created_at)
        .join(Follow, other == User.id)
        .where(mine == user_id, User.status != UserStatus.DELETED)
    )
    kind = f"follows:{direction}:{user_id}"
    if cursor:
        statement = statement.where(after(columns, codec.decode(kind, cursor, 2), descending=True))
    rows = (
        await session.execute(
            statement.order_by(Follow.created_at.desc(), other.desc()).limit(limit + 1)
        )
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        FollowedUser(
            id=user.id,
            username=user.username,
            name=user.name,
            avatar_url=user.avatar_url,
            bio=user.bio,
            followed_at=followed_at,
        )
        for user, followed_at in rows
    ]
    next_cursor = codec.encode(kind, [rows[-1][1], rows[-1][0].id]) if more else None
    return Page(items, next_cursor)


async def user_page(
    session: AsyncSession,
    *,
    search: str | None,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[User]:
    """Users by id, optionally whose username or name starts with ``search``."""
    statement = select(User).where(User.status != UserStatus.DELETED)
    statement, kind = _searched(statement, search, codec, cursor)
    rows = list(await session.scalars(statement.order_by(User.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, codec.encode(kind, [rows[-1].id]) if more else None)


def _searched(
    statement: Any, search: str | None, codec: CursorCodec, cursor: str | None
) -> tuple[Any, str]:
    """``statement`` narrowed to names starting with ``search`` and to ids after the
    cursor's, with the cursor kind of that list (a cursor of another search is refused)."""
    kind = "users:" + (search or "")
    if search:
        pattern = _like_prefix(search.lower())
        statement = statement.where(
            or_(
                func.lower(User.username).like(pattern, escape="\\"),
                func.lower(User.name).like(pattern, escape="\\"),
            )
        )
    if cursor:
        (last_id,) = codec.decode(kind, cursor, 1)
        statement = statement.where(User.id > last_id)
    return statement, kind


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _card_columns(fields: frozenset[str] | None, stats: bool = False) -> list[Any]:
    names = [name for name in CARD_FIELDS if fields is None or name in fields or name == "id"]
    columns: list[Any] = [getattr(User, name) for name in names]
    return columns + (_stats_columns(User.id) if stats else [])


def _card(row: Any, fields: frozenset[str] | None, stats: bool) -> UserCard:
    values = {
        name: getattr(row, name)
        for name in CARD_FIELDS
        if fields is None or name in fields or name == "id"
    }
    if stats:
        values["stats"] = _stats_of(row)
    return UserCard(**values)


def _stats_of(row: Any) -> UserStats:
    """The counters of a row selected with :func:`_with_stats` (or its columns)."""
    return UserStats(
        followers=int(row.followers),
        following=int(row.following),
        posts=int(row.posts),
        likes_received=int(row.likes_received),
    )


async def cards_by_ids(
    session: AsyncSession, ids: list[int], *, fields: frozenset[str] | None, stats: bool
) -> tuple[dict[int, UserCard], set[int]]:
    """The live users among ``ids`` as cards holding only ``fields`` (None: all) and, with
    ``stats``, their counters, and the ids that exist at all (deleted users included): one
    statement for any number of ids (see :func:`_with_stats`)."""
    if not ids:
        return {}, set()
    unique = sorted(set(ids))
    statement = select(*_card_columns(fields), User.status.label("account_status"))
    if stats:
        statement = _with_stats(statement, unique)
    rows = list(await session.execute(statement.where(User.id.in_(unique))))
    cards = {
        row.id: _card(row, fields, stats)
        for row in rows
        if row.account_status != UserStatus.DELETED
    }
    return cards, {row.id for row in rows}


async def card_page(
    session: AsyncSession,
    *,
    search: str | None,
    fields: frozenset[str] | None,
    stats: bool,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[UserCard]:
    """:func:`user_page` loading only ``fields`` (and the counters with ``stats``)."""
    statement = select(*_card_columns(fields, stats)).where(User.status != UserStatus.DELETED)
    statement, kind = _searched(statement, search, codec, cursor)
    rows = list(await session.execute(statement.order_by(User.id).limit(limit + 1)))
    more = len(rows) > limit
    cards = [_card(row, fields, stats) for row in rows[:limit]]
    return Page(cards, codec.encode(kind, [cards[-1].id]) if more else None)


async def users_by_ids(session: AsyncSession, ids: list[int]) -> list[User]:
    """Live users in the order asked, duplicates once; missing or deleted ids are skipped."""
    if not ids:
        return []
    found = {
        u.id: u
        for u in await session.scalars(
            select(User).where(User.id.in_(set(ids)), User.status != UserStatus.DELETED)
        )
    }
    return [found[i] for i in dict.fromkeys(ids) if i in found]
