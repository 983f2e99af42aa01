"""Post read use cases: one read session each, batch-loaded answers.

The post page is answered as JSON bytes serialized once and kept in the cache, in two
parts. The *body* (post fields, author, category, tags, media) is the same for every viewer
and changes only through the post's own write paths, which invalidate the tag ``post:<id>``
after commit: it lives in the cache (``post:<id>:json``) as two JSON fragments (before and
after ``stats``, in ``PostOut``'s key order), with the status and author id that decide
visibility per request. The *counters* and the viewer's like are spliced in per request
(:mod:`stratabase.content.counters`):

- anonymous: counters from the cache (``poststats:<id>``): **0 statements** on a hit.
  Likes, unlikes and comment writes show at once (tag invalidation after commit; on two
  tiers, in other processes when the invalidation message arrives); a view shows within
  ``counters.BOUND`` (30 s), the counters entry's lifetime.
- signed in: the exact counters and the viewer's like in **1 statement**: a reader always
  sees their own like, comment or view on their next read.

A hit validates and encodes nothing: it joins cached bytes (``PostPage.json``).

Out-of-band changes (the author's name, a category's name, edited outside the API) reach a
cached body only when its ``post`` TTL (30 min) ends; no API route changes them today.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import select

from stratabase.auth.principal import Principal
from stratabase.cache import Cache
from stratabase.cache.keys import CUSTOM, POST, tag_post
from stratabase.content import counters, queries
from stratabase.content.results import CachedBody, CategoryJson, PostAnswer, PostBody
from stratabase.db.session import Database
from stratabase.enums import PostStatus
from stratabase.exceptions import NotFound, PermissionDenied
from stratabase.models import Category, Post, Tag
from stratabase.pagination import CursorCodec, Page
from stratabase.schemas.accounts import UserPublicRead
from stratabase.schemas.content import CategoryRead, MediaRead, PostRead, TagRead

#: Carried by every cached category page; whatever creates, renames or deletes a category
#: invalidates it (no API route does today: categories come from seeds and admin tools).
TAG_CATEGORIES = "categories"


@dataclass(frozen=True)
class PostPage:
    """The post page as answered: ``json`` is the ``PostOut`` document, ready to send."""

    post_id: int
    status: str
    author_id: int
    #: UTF-8 JSON, the exact bytes ``PostOut`` would serialize for this viewer.
    json: bytes


async def get_post(db: Database, cache: Cache, viewer: Principal | None, post_id: int) -> PostPage:
    """A post with author, category, tags, media, stats and the viewer's like."""
    body = await post_body(db, cache, post_id)
    if body is None or not queries.may_see(body["status"], body["author_id"], viewer):
        raise NotFound(f"post {post_id} does not exist", field="post_id")
    if viewer is None:
        stats = await counters.cached_stats(db, cache, post_id)
        liked = b"null"
    else:
        stats, likes = await counters.fresh_stats(db, viewer, post_id)
        liked = b"true" if likes else b"false"
    json = b"".join(
        (
            body["head"].encode(),
            b',"stats":',
            stats.encode(),
            body["tail"].encode(),
            b',"liked":',
            liked,
            b',"score":null}',
        )
    )
    return PostPage(post_id, body["status"], body["author_id"], json)


async def post_body(db: Database, cache: Cache, post_id: int) -> CachedBody | None:
    """The viewer-independent part of a post page, cached under :func:`body_key`: its
    ``status`` and ``author_id`` (visibility), and ``head`` and ``tail``, the JSON text
    around ``stats`` (see :func:`render_body`). None if the post does not exist (absence is
    not cached)."""

    async def load() -> CachedBody:
        async with db.session() as session:
            post = await session.get(Post, post_id)
            if post is None:
                raise _Absent
            return render_body((await queries.bodies(session, [post]))[0])

    try:
        body: CachedBody = await cache.get_or_load(
            body_key(post_id), load, tags=[tag_post(post_id)]
        )
    except _Absent:
        return None
    return body


def body_key(post_id: int) -> str:
    """``post:<id>:json``: the key names the stored form, so that processes of two versions
    (a rolling deploy) never read each other's entries."""
    return POST.key(post_id, "json")


class _Tail(BaseModel):
    """The fields ``PostOut`` serializes after ``stats`` (same types, same order)."""

    tags: list[TagRead] = []
    media: list[MediaRead] = []
    author: UserPublicRead | None = None
    category: CategoryRead | None = None


_HEAD_EXCLUDED = frozenset({"stats", "tags", "media"})


def render_body(body: PostBody) -> CachedBody:
    """A :func:`queries.bodies` answer serialized once: ``head`` is the JSON object of the
    post's own fields without its closing brace; ``tail`` is ``,"tags":…,"category":…``."""
    post = PostRead.model_validate(body)
    head = post.model_dump_json(exclude=set(_HEAD_EXCLUDED))
    tail = _Tail.model_validate(
        {
            "tags": body["tags"],
            "media": body["media"],
            "author": body["author"],
            "category": body["category"],
        }
    ).model_dump_json()
    return {
        "status": str(body["status"]),
        "author_id": body["author_id"],
        "head": head[:-1],
        "tail": "," + tail[1:-1],
    }


def jsonable_body(body: PostBody) -> dict[str, Any]:
    """A :func:`queries.bodies` answer with its ORM objects turned into plain data (the
    same dict, changed in place), ready for a cached page.

    Typed as a plain JSON object, not :class:`PostBody`, while the feed pages that store it
    (``feeds.pages``) hold ``dict[str, Any]`` bodies; they narrow it when they are typed."""
    if body["category"] is not None:
        body["category"] = CategoryRead.model_validate(body["category"]).model_dump(mode="json")
    body["media"] = [MediaRead.model_validate(m).model_dump(mode="json") for m in body["media"]]
    return cast(dict[str, Any], body)


class _Absent(Exception):
    """The post does not exist: nothing to cache."""


async def list_posts(
    db: Database,
    viewer: Principal | None,
    flt: queries.PostFilter,
    *,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
    shape: queries.Shape = queries.FULL,
) -> Page[PostAnswer]:
    """A keyset page of posts. Drafts (and archived, hidden) lists are the caller's own,
    except that moderators may list every hidden post. Only ``shape``'s columns and
    relations are loaded (``fields=``)."""
    if flt.status != PostStatus.PUBLISHED and viewer is None:
        raise PermissionDenied("sign in to list posts that are not published")
    columns = queries.order_columns(flt.status)
    kind = f"posts:{flt}"
    async with db.session() as session:
        page = await queries.page_posts(
            session,
            queries.filtered(flt, viewer).options(*queries.load_options(shape, columns[0])),
            columns,
            kind=kind,
            codec=codec,
            cursor=cursor,
            limit=limit,
        )
        items = await queries.hydrate(session, page.items, viewer, shape)
        return Page(items, page.next_cursor)


async def posts_by_ids(
    db: Database,
    viewer: Principal | None,
    ids: Sequence[int],
    shape: queries.Shape = queries.FULL,
) -> Page[PostAnswer]:
    """The visible posts among ``ids``, in the order asked, hydrated to ``shape``."""
    async with db.session() as session:
        posts = await queries.posts_by_ids(session, ids, viewer, shape)
        return Page(await queries.hydrate(session, posts, viewer, shape), None)


async def list_categories(
    db: Database,
    cache: Cache,
    *,
    theme: str | None,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[CategoryJson]:
    """A page of categories (cached: the list changes only when a category does)."""
    kind = f"categories:{theme or ''}"
    after_id = codec.decode(kind, cursor, 1)[0] if cursor else 0

    async def load() -> dict[str, Any]:
        statement = select(Category).where(Category.id > after_id)
        if theme:
            statement = statement.where(Category.theme == theme)
        async with db.session() as session:
            rows = list(await session.scalars(statement.order_by(Category.id).limit(limit + 1)))
        items = [CategoryRead.model_validate(row).model_dump(mode="json") for row in rows]
        return {"items": items[:limit], "more": len(items) > limit}

    page = await cache.get_or_load(
        categories_key(theme, after_id, limit), load, tags=[TAG_CATEGORIES]
    )
    items: list[CategoryJson] = page["items"]
    next_cursor = codec.encode(kind, [items[-1]["id"]]) if page["more"] else None
    return Page(items, next_cursor)


def categories_key(theme: str | None, after_id: object, limit: int) -> str:
    """``custom:categories:<digest>`` (the theme is free text: hashed, never in a key)."""
    digest = hashlib.sha256(f"{theme or ''}|{after_id}|{limit}".encode()).hexdigest()[:32]
    return CUSTOM.key("categories", digest)


async def list_tags(
    db: Database, *, codec: CursorCodec, cursor: str | None, limit: int
) -> Page[Tag]:
    """Every tag, by id, one cursor page at a time."""
    statement = select(Tag)
    if cursor:
        (last_id,) = codec.decode("tags", cursor, 1)
        statement = statement.where(Tag.id > last_id)
    async with db.session() as session:
        rows = list(await session.scalars(statement.order_by(Tag.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, codec.encode("tags", [rows[-1].id]) if more else None)
