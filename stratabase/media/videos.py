"""Videos: posts of kind ``video`` with their stats and their video file (seed 004's
``getTrendingVideos`` and ``getVideoWithStats``).

Trending reuses the feeds' trending ranking for the ``video`` kind
(:mod:`stratabase.feeds.rankings`: order and membership at most 45 s old); stats and the
video file are read fresh on every request, in a fixed number of statements per page.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth.principal import Principal
from stratabase.cache import Cache
from stratabase.db.session import Database
from stratabase.enums import MediaType, PostKind, PostStatus
from stratabase.exceptions import NotFound
from stratabase.feeds import service as feeds
from stratabase.media.results import VideoStats
from stratabase.models import Media, Post, PostStats
from stratabase.models.media_store import MediaObject, post_media
from stratabase.pagination import CursorCodec, Page


async def trending(
    db: Database,
    cache: Cache,
    viewer: Principal | None,
    *,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[VideoStats]:
    """Trending video posts (time-decayed engagement, ``score``), with stats and file."""
    page = await feeds.trending(
        db, viewer, codec=codec, cursor=cursor, limit=limit, kind=PostKind.VIDEO, cache=cache
    )
    ids = [int(item["id"]) for item in page.items]
    scores = {int(item["id"]): item.get("score") for item in page.items}
    async with db.session() as session:
        videos = await _load(session, ids)
    items = [_with_score(videos[post_id], scores[post_id]) for post_id in ids if post_id in videos]
    return Page(items, page.next_cursor)


def _with_score(video: VideoStats, score: Any) -> VideoStats:
    return replace(video, score=float(score) if score is not None else None)


async def get(db: Database, viewer: Principal | None, post_id: int) -> VideoStats:
    """One video with its stats (published, or any status for its author and admins)."""
    async with db.session() as session:
        post = await session.get(Post, post_id)
        visible = post is not None and (
            post.status == PostStatus.PUBLISHED
            or (viewer is not None and (viewer.user_id == post.author_id or viewer.is_admin))
        )
        if post is None or not visible or post.kind != PostKind.VIDEO:
            raise NotFound(f"video {post_id} does not exist", field="video_id")
        return (await _load(session, [post_id]))[post_id]


async def _load(session: AsyncSession, ids: list[int]) -> dict[int, VideoStats]:
    """Posts, stats and video files of ``ids``: three statements whatever their number."""
    if not ids:
        return {}
    rows = await session.execute(
        select(Post, PostStats)
        .outerjoin(PostStats, PostStats.post_id == Post.id)
        .where(Post.id.in_(ids))
    )
    uploads: dict[int, MediaObject] = {}
    for post_id, upload in await session.execute(
        select(post_media.c.post_id, MediaObject)
        .join(MediaObject, MediaObject.id == post_media.c.media_id)
        .where(post_media.c.post_id.in_(ids), MediaObject.kind == "video")
        .order_by(post_media.c.post_id, post_media.c.position)
    ):
        uploads.setdefault(post_id, upload)
    legacy: dict[int, Media] = {}
    for item in await session.scalars(
        select(Media)
        .where(Media.post_id.in_(ids), Media.type == MediaType.VIDEO)
        .order_by(Media.post_id, Media.position)
    ):
        legacy.setdefault(item.post_id, item)
    result: dict[int, VideoStats] = {}
    for post, stats in rows:
        result[post.id] = _video(post, stats, uploads.get(post.id), legacy.get(post.id))
    return result


def _video(
    post: Post, stats: PostStats | None, upload: MediaObject | None, legacy: Media | None
) -> VideoStats:
    width = height = None
    duration = None
    hls_url = post.meta.get("hls_url") if isinstance(post.meta, dict) else None
    if upload is not None:
        width, height, duration = upload.width, upload.height, upload.duration_seconds
        hls_url = hls_url or f"/v1/media/{upload.id}/content"
    elif legacy is not None:
        width, height, duration = legacy.width, legacy.height, legacy.duration_seconds
        hls_url = hls_url or legacy.url
    return VideoStats(
        id=post.id,
        author_id=post.author_id,
        title=post.title,
        summary=post.summary,
        status=post.status.value,
        published_at=post.published_at,
        media_id=upload.id if upload is not None else None,
        hls_url=hls_url if isinstance(hls_url, str) else None,
        duration_seconds=duration,
        resolution=f"{width}x{height}" if width and height else None,
        views=stats.views if stats else 0,
        likes=stats.likes if stats else 0,
        comments=stats.comments if stats else 0,
        shares=stats.shares if stats else 0,
    )


__all__ = ["get", "trending"]
