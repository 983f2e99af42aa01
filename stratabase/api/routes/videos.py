"""Videos (seed 004): trending video posts and one video with its stats."""

from __future__ import annotations

from stratabase.api.deps import CacheDep, CursorsDep, DatabaseDep, OptionalUserDep
from stratabase.api.routes._params import DEFAULT, Cursor, Limit, ObjectId
from stratabase.api.routes._router import public_router
from stratabase.api.schemas.common import PageOut
from stratabase.media import videos
from stratabase.media.results import VideoStats

router = public_router("/v1/videos", "videos")


@router.get("/trending", response_model=PageOut[VideoStats])
async def trending_videos(
    viewer: OptionalUserDep,
    db: DatabaseDep,
    cache: CacheDep,
    codec: CursorsDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> PageOut[VideoStats]:
    """Video posts of the last days by time-decayed engagement (``score``), each with its
    duration, resolution, stream URL and stats (``getTrendingVideos``). The order is at
    most 45 s old; stats are fresh."""
    page = await videos.trending(db, cache, viewer, codec=codec, cursor=cursor, limit=limit)
    return PageOut[VideoStats](
        items=page.items,
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.get("/{video_id}", response_model=VideoStats)
async def get_video(video_id: ObjectId, viewer: OptionalUserDep, db: DatabaseDep) -> VideoStats:
    """A video post with its file's metadata and its stats (``getVideoWithStats``)."""
    return await videos.get(db, viewer, video_id)
