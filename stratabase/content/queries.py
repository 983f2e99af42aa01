"""Post reads: visibility, keyset pages and batch loading of everything a post shows.

``hydrate`` turns N posts into N complete answers (author, category, tags, media, stats,
the viewer's like) with one statement per kind of related data, whatever N is: the query
count of a page is a constant, never 1 + N.

A :class:`Shape` (from ``fields=``) narrows that to what the client asked for: only the
asked post columns are loaded (:func:`load_options`) and only the asked relations are
queried, so ``fields=id,title`` costs the page statement alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from stratabase.auth.principal import Principal
from stratabase.content.results import (
    PostAnswer,
    PostBody,
    PostStatsJson,
    PublicUser,
    StatsPart,
    TagJson,
)
from stratabase.enums import LikeTarget, PostKind, PostStatus
from stratabase.exceptions import NotFound
from stratabase.models import Category, Like, Media, Post, PostStats, Tag, User, post_tags
from stratabase.pagination import CursorCodec, Page, after

PUBLIC_USER_FIELDS = ("id", "username", "name", "avatar_url", "bio")


def public_user(user: User) -> PublicUser:
    """Only the fields anyone may see of a user (never email, role or password)."""
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "avatar_url": user.avatar_url,
        "bio": user.bio,
    }


def can_see(post: Post, viewer: Principal | None) -> bool:
    """Published and archived posts are public; drafts only for their author; hidden ones
    for their author and moderators."""
    return may_see(post.status, post.author_id, viewer)


def may_see(status: str, author_id: int, viewer: Principal | None) -> bool:
    """:func:`can_see` on the fields alone (a cached post page has no ORM object)."""
    if status in (PostStatus.PUBLISHED, PostStatus.ARCHIVED):
        return True
    if viewer is None:
        return False
    if author_id == viewer.user_id:
        return True
    return status == PostStatus.HIDDEN and viewer.is_moderator


def visible(viewer: Principal | None) -> ColumnElement[bool]:
    """The SQL form of :func:`can_see`."""
    public = Post.status.in_([PostStatus.PUBLISHED, PostStatus.ARCHIVED])
    if viewer is None:
        return public
    clauses = [public, Post.author_id == viewer.user_id]
    if viewer.is_moderator:
        clauses.append(Post.status == PostStatus.HIDDEN)
    return or_(*clauses)


async def get_visible_post(session: AsyncSession, post_id: int, viewer: Principal | None) -> Post:
    """The post if the viewer may see it; otherwise :class:`NotFound`, as if it did not exist."""
    post = await session.get(Post, post_id)
    if post is None or not can_see(post, viewer):
        raise NotFound(f"post {post_id} does not exist", field="post_id")
    return post


def _stats(stats: PostStats | None, post_id: int) -> PostStatsJson:
    if stats is None:
        return {"post_id": post_id, "views": 0, "likes": 0, "shares": 0, "comments": 0}
    return {
        "post_id": post_id,
        "views": stats.views,
        "likes": stats.likes,
        "shares": stats.shares,
        "comments": stats.comments,
        "updated_at": stats.updated_at,
    }


#: Answer keys that are post columns, with their ORM attribute names.
POST_COLUMNS: dict[str, str] = {
    "id": "id",
    "author_id": "author_id",
    "category_id": "category_id",
    "kind": "kind",
    "title": "title",
    "slug": "slug",
    "summary": "summary",
    "content_blocks": "content_blocks",
    "status": "status",
    "metadata": "meta",
    "published_at": "published_at",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
#: Answer keys that need a column besides their own (a relation's foreign key).
_NEEDS = {"author": "author_id", "category": "category_id"}


@dataclass(frozen=True)
class Shape:
    """Which parts of a post answer to load: ``fields`` (answer keys) or None for all."""

    fields: frozenset[str] | None = None

    def wants(self, name: str) -> bool:
        """Whether the answer includes the key ``name``."""
        return self.fields is None or name in self.fields

    def attributes(self) -> list[str]:
        """The post attributes to load: the asked columns, ``id`` and relation keys."""
        if self.fields is None:
            return list(POST_COLUMNS.values())
        names = {"id"} | {_NEEDS[f] for f in self.fields if f in _NEEDS}
        names |= {f for f in self.fields if f in POST_COLUMNS}
        return [attr for key, attr in POST_COLUMNS.items() if key in names]


#: Everything (the post page, cached bodies).
FULL = Shape()


def load_options(shape: Shape, *also: Any) -> list[Any]:
    """Statement options loading only ``shape``'s columns (and ``also``, e.g. the keyset's
    sort column); touching another column raises instead of issuing a lazy load."""
    if shape.fields is None:
        return []
    columns = [getattr(Post, attr) for attr in shape.attributes()]
    columns += [column for column in also if column not in columns]
    return [load_only(*columns, raiseload=True)]


async def hydrate(
    session: AsyncSession,
    posts: Sequence[Post],
    viewer: Principal | None,
    shape: Shape = FULL,
) -> list[PostAnswer]:
    """Answers for ``posts``, in order: at most six statements for any page, and only the
    ones the ``shape`` needs (none beyond the page for plain columns)."""
    if not posts:
        return []
    # The bodies, completed in place into answers (same dicts, more keys).
    out = cast(list[PostAnswer], await bodies(session, posts, shape))
    want_stats, want_liked = shape.wants("stats"), shape.wants("liked")
    if want_stats or want_liked:
        stats, liked = await extras(
            session, [post.id for post in posts], viewer, stats=want_stats, liked=want_liked
        )
        for answer in out:
            if want_stats:
                answer["stats"] = stats[answer["id"]]["stats"]
            if want_liked:
                answer["liked"] = liked.get(answer["id"])
    return out


async def bodies(
    session: AsyncSession, posts: Sequence[Post], shape: Shape = FULL
) -> list[PostBody]:
    """The viewer-independent part of each post (author, category, tags, media): what a
    cache may share between viewers. At most four statements for any page, one per
    relation the ``shape`` asks for."""
    if not posts:
        return []
    ids = [post.id for post in posts]
    authors: dict[int, User] = {}
    if shape.wants("author"):
        authors = {
            user.id: user
            for user in await session.scalars(
                select(User).where(User.id.in_({post.author_id for post in posts}))
            )
        }
    categories: dict[int, Category] = {}
    category_ids = (
        {post.category_id for post in posts if post.category_id is not None}
        if shape.wants("category")
        else set()
    )
    if category_ids:
        categories = {
            c.id: c
            for c in await session.scalars(select(Category).where(Category.id.in_(category_ids)))
        }
    tags: dict[int, list[TagJson]] = defaultdict(list)
    if shape.wants("tags"):
        tag_rows = await session.execute(
            select(post_tags.c.post_id, Tag.id, Tag.name, Tag.slug)
            .join(Tag, Tag.id == post_tags.c.tag_id)
            .where(post_tags.c.post_id.in_(ids))
            .order_by(post_tags.c.post_id, Tag.name)
        )
        for post_id, tag_id, name, slug in tag_rows:
            tags[post_id].append({"id": tag_id, "name": name, "slug": slug})
    media: dict[int, list[Media]] = defaultdict(list)
    if shape.wants("media"):
        for item in await session.scalars(
            select(Media).where(Media.post_id.in_(ids)).order_by(Media.post_id, Media.position)
        ):
            media[item.post_id].append(item)
    if shape.fields is None:
        return [_full_body(post, authors, categories, tags, media) for post in posts]
    out = []
    for post in posts:
        columns = {
            key: getattr(post, attr) for key, attr in POST_COLUMNS.items() if key in shape.fields
        }
        # Only the asked keys: the partial shape is what the TypedDict's NotRequired allow.
        answer = cast(PostBody, columns)
        answer["id"] = post.id
        if "content_blocks" in answer:
            answer["content_blocks"] = answer["content_blocks"] or []
        if "metadata" in answer:
            answer["metadata"] = answer["metadata"] or {}
        if shape.wants("author"):
            author = authors.get(post.author_id)
            answer["author"] = public_user(author) if author else None
        if shape.wants("category"):
            answer["category"] = categories.get(post.category_id) if post.category_id else None
        if shape.wants("tags"):
            answer["tags"] = tags.get(post.id, [])
        if shape.wants("media"):
            answer["media"] = media.get(post.id, [])
        out.append(answer)
    return out


def _full_body(
    post: Post,
    authors: dict[int, User],
    categories: dict[int, Category],
    tags: dict[int, list[TagJson]],
    media: dict[int, list[Media]],
) -> PostBody:
    author = authors.get(post.author_id)
    return {
        "id": post.id,
        "author_id": post.author_id,
        "category_id": post.category_id,
        "kind": post.kind,
        "title": post.title,
        "slug": post.slug,
        "summary": post.summary,
        "content_blocks": post.content_blocks or [],
        "status": post.status,
        "metadata": post.meta or {},
        "published_at": post.published_at,
        "created_at": post.created_at,
        "updated_at": post.updated_at,
        "author": public_user(author) if author else None,
        "category": categories.get(post.category_id) if post.category_id else None,
        "tags": tags.get(post.id, []),
        "media": media.get(post.id, []),
    }


async def extras(
    session: AsyncSession,
    ids: Sequence[int],
    viewer: Principal | None,
    *,
    stats: bool = True,
    liked: bool = True,
) -> tuple[dict[int, StatsPart], dict[int, bool | None]]:
    """What changes on every like, comment and view, or differs per viewer: ``{"stats": …}``
    per post and whether the viewer likes it (None when anonymous). Two statements at most,
    none for a part not asked for (``stats=False``, ``liked=False``: empty maps)."""
    if not stats and not liked:
        return {}, {}
    rows: dict[int, PostStats] = {}
    if stats:
        rows = {
            row.post_id: row
            for row in await session.scalars(select(PostStats).where(PostStats.post_id.in_(ids)))
        }
    liked_ids: set[int] = set()
    if liked and viewer is not None:
        liked_ids = set(
            await session.scalars(
                select(Like.target_id).where(
                    Like.user_id == viewer.user_id,
                    Like.target_type == LikeTarget.POST,
                    Like.target_id.in_(ids),
                )
            )
        )
    return (
        {post_id: {"stats": _stats(rows.get(post_id), post_id)} for post_id in ids}
        if stats
        else {},
        {post_id: (post_id in liked_ids) if viewer is not None else None for post_id in ids}
        if liked
        else {},
    )


@dataclass(frozen=True)
class PostFilter:
    """What a post list narrows to; published posts unless ``status`` says otherwise."""

    category_id: int | None = None
    tag: str | None = None
    author_id: int | None = None
    kind: PostKind | None = None
    status: PostStatus = PostStatus.PUBLISHED


def order_columns(status: PostStatus) -> tuple[Any, Any]:
    """Published lists sort by publication time; other lists by creation time."""
    if status == PostStatus.PUBLISHED:
        return Post.published_at, Post.id
    return Post.created_at, Post.id


async def page_posts(
    session: AsyncSession,
    statement: Select[Any],
    columns: tuple[Any, Any],
    *,
    kind: str,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[Post]:
    """One keyset page of ``statement`` (newest first by ``columns``): one statement."""
    if cursor:
        values = codec.decode(kind, cursor, 2)
        statement = statement.where(after(columns, values, descending=True))
    statement = statement.order_by(columns[0].desc(), columns[1].desc()).limit(limit + 1)
    rows = list(await session.scalars(statement))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = codec.encode(kind, [getattr(last, columns[0].key), last.id])
    return Page(rows, next_cursor)


def filtered(flt: PostFilter, viewer: Principal | None) -> Select[Any]:
    """The posts matching the filter that the viewer may see, unordered."""
    statement = select(Post).where(Post.status == flt.status, visible(viewer))
    if flt.category_id is not None:
        statement = statement.where(Post.category_id == flt.category_id)
    if flt.author_id is not None:
        statement = statement.where(Post.author_id == flt.author_id)
    if flt.kind is not None:
        statement = statement.where(Post.kind == flt.kind)
    if flt.tag is not None:
        tagged = (
            select(post_tags.c.post_id)
            .join(Tag, Tag.id == post_tags.c.tag_id)
            .where(Tag.slug == flt.tag)
        )
        statement = statement.where(Post.id.in_(tagged))
    return statement


async def posts_by_ids(
    session: AsyncSession, ids: Sequence[int], viewer: Principal | None, shape: Shape = FULL
) -> list[Post]:
    """The visible posts among ``ids``, in the order asked (the seeds' getMultiplePosts),
    with only ``shape``'s columns loaded."""
    if not ids:
        return []
    # Visibility checked here, not in SQL: with a status condition SQLite's planner walks
    # the (status, published_at) index over every published post instead of the keys.
    found = {
        post.id: post
        for post in await session.scalars(
            select(Post)
            .where(Post.id.in_(set(ids)))
            .options(*load_options(shape, Post.status, Post.author_id))
        )
        if can_see(post, viewer)
    }
    return [found[i] for i in dict.fromkeys(ids) if i in found]


def published_since(since: Any) -> ColumnElement[bool]:
    """Published posts whose publication time is ``since`` or later."""
    return and_(Post.status == PostStatus.PUBLISHED, Post.published_at >= since)
