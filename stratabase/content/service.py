"""Post use cases: create, edit, publish, archive, hide, delete, views and likes.

Each public function is one transaction. Counters (``post_stats.likes``,
``comments.like_count``, views) change by ``x = x ± 1`` in the same transaction as the row
that justifies them, so they stay exact under any concurrency.

Cache: each write registers, inside its transaction, the tags it makes stale (run after
commit only): ``post:<id>`` for the cached post body (edit, publish, archive, hide,
delete), ``user:<author>`` for the author's cached profile counters (posts published,
likes received) and the home feeds of their followers, and ``search`` plus
``category:<id>`` (before and after an edit) for the cached search and category pages.
The post page's counters are cached for anonymous readers (``content.counters``): a like
or unlike of a post invalidates ``post:<id>:stats``; comment writes invalidate
``post:<id>:comments``, which the counters entry also carries; views invalidate nothing
(shown within ``counters.BOUND``). A like on a comment invalidates its post's comment
pages (``post:<id>:comments``, whose ``like_count`` it changes). Whatever changes a
platform count (a post entering or leaving ``published``, a delete, a like or unlike)
also invalidates ``stats``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth.principal import Principal
from stratabase.cache import Cache, invalidate_tags_after_commit
from stratabase.cache.keys import TAG_SEARCH, TAG_STATS, tag_category, tag_post, tag_user
from stratabase.changes import emit
from stratabase.content import queries
from stratabase.content.comments import tag_comments
from stratabase.content.counters import tag_post_stats
from stratabase.content.results import LikeResult, PostAnswer
from stratabase.content.slugs import slugify, unique_post_slug
from stratabase.db import portable
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import LikeTarget, PostStatus
from stratabase.exceptions import NotFound, PermissionDenied
from stratabase.jobs.tasks.crawl import enqueue_crawls
from stratabase.models import Comment, Like, Post, PostStats, Tag, post_tags
from stratabase.schemas.content import PostCreate, PostUpdate
from stratabase.search import index
from stratabase.social.queries import require_not_blocked


async def _tag_ids(session: AsyncSession, names: list[str]) -> list[int]:
    """Ids of the named tags, creating the missing ones (race-free: ON CONFLICT)."""
    by_slug = {slugify(name, max_length=60): name for name in names}
    if not by_slug:
        return []
    new = [{"name": name[:50], "slug": slug} for slug, name in by_slug.items()]
    await session.execute(portable.insert_or_ignore(session, Tag, new, on=["slug"]))
    rows = await session.execute(select(Tag.slug, Tag.id).where(Tag.slug.in_(by_slug)))
    ids = {slug: tag_id for slug, tag_id in rows}
    return [ids[slug] for slug in by_slug]


async def _set_tags(session: AsyncSession, post_id: int, names: list[str]) -> None:
    await session.execute(delete(post_tags).where(post_tags.c.post_id == post_id))
    ids = await _tag_ids(session, names)
    if ids:
        await session.execute(post_tags.insert(), [{"post_id": post_id, "tag_id": i} for i in ids])


async def _owned_post(session: AsyncSession, post_id: int, actor: Principal) -> Post:
    """The post, for its author only; others get 404 if they cannot see it, 403 otherwise."""
    post = await queries.get_visible_post(session, post_id, actor)
    if post.author_id != actor.user_id:
        raise PermissionDenied("only the author may change this post")
    return post


async def _hydrated(session: AsyncSession, post: Post, viewer: Principal) -> PostAnswer:
    return (await queries.hydrate(session, [post], viewer))[0]


async def add_post(
    session: AsyncSession,
    author_id: int,
    data: PostCreate,
    *,
    published_at: datetime | None = None,
) -> tuple[Post, list[str]]:
    """Create a post in the caller's transaction, for callers that write more with it.

    The row, its stats, tags, search entry and link-preview crawls are written together;
    ``published_at`` (default: now, if published) lets a scheduled post keep its slot.
    Returns the post and the cache tags it makes stale, to invalidate after commit.
    """
    status = PostStatus(data.status)
    now = utcnow()
    post = Post(
        author_id=author_id,
        category_id=data.category_id,
        kind=data.kind,
        title=data.title,
        slug=data.slug or unique_post_slug(data.title),
        summary=data.summary,
        content_blocks=[block.model_dump(mode="json") for block in data.content_blocks],
        status=status,
        meta=data.metadata,
        published_at=(published_at or now) if status == PostStatus.PUBLISHED else None,
    )
    session.add(post)
    await session.flush()
    session.add(PostStats(post_id=post.id, updated_at=now))
    await _set_tags(session, post.id, data.tags)
    await session.flush()
    await index.sync_post(session, post)
    await enqueue_crawls(session, post)  # link previews of a published post
    await emit.post_changed(session, post, "post.created")
    stale = [tag_user(author_id), *_listed(post)]
    if status == PostStatus.PUBLISHED:
        stale.append(TAG_STATS)
    return post, stale


async def create_post(db: Database, cache: Cache, actor: Principal, data: PostCreate) -> PostAnswer:
    """Create a post by the actor and return it hydrated; cached lists it joins are
    invalidated after commit."""
    actor.require_writer()

    async def work(session: AsyncSession) -> PostAnswer:
        post, stale = await add_post(session, actor.user_id, data)
        invalidate_tags_after_commit(session, cache, stale)
        return await _hydrated(session, post, actor)

    return await db.transaction(work)


async def update_post(
    db: Database, cache: Cache, actor: Principal, post_id: int, data: PostUpdate
) -> PostAnswer:
    """Apply the fields given (only those) to the actor's own post; returns it hydrated."""
    actor.require_writer()
    changes = data.changes()

    async def work(session: AsyncSession) -> PostAnswer:
        post = await _owned_post(session, post_id, actor)
        listed_before = _listed(post)
        status_before = post.status
        tags = changes.pop("tags", None)
        if "content_blocks" in changes:
            changes["content_blocks"] = [
                block.model_dump(mode="json") for block in (data.content_blocks or [])
            ]
        if "metadata" in changes:
            changes["meta"] = changes.pop("metadata")
        if "status" in changes:
            _check_transition(post, PostStatus(changes["status"]))
            if changes["status"] == PostStatus.PUBLISHED and post.published_at is None:
                post.published_at = utcnow()
        for name, value in changes.items():
            setattr(post, name, value)
        post.updated_at = utcnow()
        if tags is not None:
            await _set_tags(session, post.id, tags)
        await _changed(session, cache, post, status_before, listed_before, "post.updated")
        return await _hydrated(session, post, actor)

    return await db.transaction(work)


async def _changed(
    session: AsyncSession,
    cache: Cache,
    post: Post,
    status_before: PostStatus,
    listed_before: list[str],
    event: str | None = None,
) -> None:
    """What follows any change of a post, in its transaction: the search entry, link
    previews (of a published post), the change event (``event``, or that of its new
    status) and the cache tags it makes stale, before and after (run after commit)."""
    await session.flush()
    await index.sync_post(session, post)
    await enqueue_crawls(session, post)
    await emit.post_changed(session, post, event, before=status_before)
    invalidate_tags_after_commit(
        session,
        cache,
        {
            tag_post(post.id),
            tag_user(post.author_id),
            *listed_before,
            *_listed(post),
            *_stats_if_moved(status_before, PostStatus(post.status)),
        },
    )


def _listed(post: Post) -> list[str]:
    """The tags of the cached lists a post may appear in (besides its author's): search
    results and its category feed."""
    if post.category_id is None:
        return [TAG_SEARCH]
    return [TAG_SEARCH, tag_category(post.category_id)]


def _stats_if_moved(before: PostStatus, after: PostStatus) -> list[str]:
    """``stats`` when the post entered or left ``published`` (the platform's post count)."""
    moved = (before == PostStatus.PUBLISHED) != (after == PostStatus.PUBLISHED)
    return [TAG_STATS] if moved else []


def _check_transition(post: Post, target: PostStatus) -> None:
    if post.status == PostStatus.HIDDEN and target != PostStatus.HIDDEN:
        raise PermissionDenied("a hidden post can only be restored by a moderator")


async def set_status(
    db: Database, cache: Cache, actor: Principal, post_id: int, target: PostStatus
) -> PostAnswer:
    """Publish or archive (the author), hide or restore (a moderator)."""
    actor.require_writer()

    async def work(session: AsyncSession) -> PostAnswer:
        post = await queries.get_visible_post(session, post_id, actor)
        moderating = target == PostStatus.HIDDEN or post.status == PostStatus.HIDDEN
        if moderating and not actor.is_moderator:
            raise PermissionDenied("only moderators may hide or restore a post")
        if not moderating and post.author_id != actor.user_id:
            raise PermissionDenied("only the author may change this post")
        status_before = post.status
        post.status = target
        if target == PostStatus.PUBLISHED and post.published_at is None:
            post.published_at = utcnow()
        post.updated_at = utcnow()
        await _changed(session, cache, post, status_before, _listed(post))
        return await _hydrated(session, post, actor)

    return await db.transaction(work)


async def delete_post(db: Database, cache: Cache, actor: Principal, post_id: int) -> None:
    """Delete the actor's own post for good, with its likes and its comments' likes, and
    drop it from the search index."""
    actor.require_writer()

    async def work(session: AsyncSession) -> None:
        post = await _owned_post(session, post_id, actor)
        await index.remove(session, "post", post.id)
        comment_ids = select(Comment.id).where(Comment.post_id == post.id)
        await session.execute(
            delete(Like).where(
                (Like.target_type == LikeTarget.POST) & (Like.target_id == post.id)
                | (Like.target_type == LikeTarget.COMMENT) & Like.target_id.in_(comment_ids)
            )
        )
        await emit.post_changed(session, post, "post.deleted")
        await session.delete(post)
        invalidate_tags_after_commit(
            session,
            cache,
            [
                tag_post(post.id),
                tag_post_stats(post.id),
                tag_comments(post.id),
                tag_user(post.author_id),
                *_listed(post),
                TAG_STATS,  # its likes and comments go with it
            ],
        )

    await db.transaction(work)


async def record_view(db: Database, viewer: Principal | None, post_id: int) -> int:
    """Count one view atomically (``views = views + 1``); returns the new total."""

    async def work(session: AsyncSession) -> int:
        await queries.get_visible_post(session, post_id, viewer)
        statement = portable.upsert(
            session,
            PostStats,
            {"post_id": post_id, "views": 1, "updated_at": utcnow()},
            on=["post_id"],
            update=lambda new: {"views": PostStats.views + 1, "updated_at": new.updated_at},
        ).returning(PostStats.views)
        return int((await session.execute(statement)).scalar_one())

    return await db.transaction(work)


async def _like_target(
    session: AsyncSession, actor: Principal, target: LikeTarget, target_id: int
) -> int:
    """The author of the liked thing, after visibility and block checks."""
    if target == LikeTarget.POST:
        post = await queries.get_visible_post(session, target_id, actor)
        author_id = post.author_id
    else:
        comment = await session.get(Comment, target_id)
        if comment is None or comment.deleted_at is not None:
            raise NotFound(f"comment {target_id} does not exist", field="comment_id")
        await queries.get_visible_post(session, comment.post_id, actor)
        author_id = comment.author_id
    await require_not_blocked(session, author_id, actor.user_id)
    return author_id


async def _stale_by_like(session: AsyncSession, target: LikeTarget, target_id: int) -> list[str]:
    """What a like changes in the cache: the post author's "likes received", or the
    ``like_count`` shown in the comment's tree."""
    if target == LikeTarget.POST:
        author_id = await session.scalar(select(Post.author_id).where(Post.id == target_id))
        return [tag_user(author_id), tag_post_stats(target_id)] if author_id is not None else []
    post_id = await session.scalar(select(Comment.post_id).where(Comment.id == target_id))
    return [tag_comments(post_id)] if post_id is not None else []


async def _bump(session: AsyncSession, target: LikeTarget, target_id: int, delta: int) -> int:
    statement: Any
    if target == LikeTarget.POST:
        statement = portable.upsert(
            session,
            PostStats,
            {"post_id": target_id, "likes": max(delta, 0), "updated_at": utcnow()},
            on=["post_id"],
            update=lambda new: {"likes": PostStats.likes + delta, "updated_at": new.updated_at},
        ).returning(PostStats.likes)
    else:
        statement = (
            update(Comment)
            .where(Comment.id == target_id)
            .values(like_count=Comment.like_count + delta)
            .returning(Comment.like_count)
        )
    return int((await session.execute(statement)).scalar_one())


async def set_like(
    db: Database, cache: Cache, actor: Principal, target: LikeTarget, target_id: int, *, liked: bool
) -> LikeResult:
    """Like or unlike; doing it twice is a no-op. Returns the state and the exact count."""
    actor.require_writer()

    async def work(session: AsyncSession) -> LikeResult:
        if liked:
            await _like_target(session, actor, target, target_id)
            like = {
                "user_id": actor.user_id,
                "target_type": target,
                "target_id": target_id,
                "created_at": utcnow(),
            }
            changed = await session.execute(portable.insert_or_ignore(session, Like, like))
        else:
            changed = await session.execute(
                delete(Like).where(
                    Like.user_id == actor.user_id,
                    Like.target_type == target,
                    Like.target_id == target_id,
                )
            )
        if changed.rowcount:  # type: ignore[attr-defined]
            count = await _bump(session, target, target_id, 1 if liked else -1)
            stale = await _stale_by_like(session, target, target_id)
            invalidate_tags_after_commit(session, cache, [*stale, TAG_STATS])
            await emit.like_changed(session, actor.user_id, target, target_id, liked, count)
        else:
            count = await _count(session, target, target_id)
        return LikeResult(liked=liked, likes=count)

    return await db.transaction(work)


async def _count(session: AsyncSession, target: LikeTarget, target_id: int) -> int:
    if target == LikeTarget.POST:
        value = await session.scalar(select(PostStats.likes).where(PostStats.post_id == target_id))
    else:
        value = await session.scalar(select(Comment.like_count).where(Comment.id == target_id))
    return int(value or 0)
