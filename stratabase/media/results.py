"""Typed results of the media and video services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from stratabase.models.media_store import MediaObject


@dataclass(frozen=True)
class MediaInfo:
    """An upload's metadata (what ``GET /v1/media/{id}`` shows)."""

    id: int
    owner_id: int
    kind: str
    mime_type: str
    size_bytes: int
    sha256: str
    width: int | None
    height: int | None
    duration_seconds: float | None
    has_thumbnail: bool
    #: False while a video waits for ``media.probe`` (no ffprobe when it was uploaded).
    probed: bool
    filename: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: MediaObject) -> MediaInfo:
        """The result for a row."""
        return cls(
            id=row.id,
            owner_id=row.owner_id,
            kind=row.kind,
            mime_type=row.mime_type,
            size_bytes=row.size_bytes,
            sha256=row.sha256,
            width=row.width,
            height=row.height,
            duration_seconds=row.duration_seconds,
            has_thumbnail=row.thumbnail_key is not None,
            probed=row.kind == "image" or row.probed_at is not None,
            filename=row.filename,
            created_at=row.created_at,
        )

    @property
    def resolution(self) -> str | None:
        """``"<width>x<height>"`` when both are known."""
        if self.width is None or self.height is None:
            return None
        return f"{self.width}x{self.height}"


@dataclass(frozen=True)
class Upload:
    """An upload's outcome: the media, whether its row is new (201) or the caller's same
    bytes already uploaded (200), and whether the bytes were written to the store (False:
    already stored, by anyone)."""

    media: MediaInfo
    created: bool
    stored: bool


@dataclass(frozen=True)
class Content:
    """Where to read a media item's bytes (or its thumbnail) and how to label them."""

    key: str
    mime_type: str
    size: int
    etag: str


@dataclass(frozen=True)
class Attachment:
    """A media item attached to a post at a position."""

    post_id: int
    media_id: int
    position: int


@dataclass(frozen=True)
class VideoStats:
    """A video post with its stats and video file, as seed 004's ``getVideoWithStats``."""

    id: int
    author_id: int
    title: str
    summary: str | None
    status: str
    published_at: datetime | None
    #: The attached video upload (None: no file attached yet).
    media_id: int | None
    #: Where the stream is (the post's ``metadata.hls_url`` or the upload's content URL).
    hls_url: str | None
    duration_seconds: float | None
    resolution: str | None
    views: int
    likes: int
    comments: int
    shares: int
    #: Trending score (only in the trending list).
    score: float | None = None


__all__ = ["Attachment", "Content", "MediaInfo", "Upload", "VideoStats"]
