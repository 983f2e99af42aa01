"""HTTP shapes of media uploads, attachments and videos."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from stratabase.media.results import Attachment, MediaInfo


class MediaOut(BaseModel):
    """An upload: what it is, its metadata and where to fetch it."""

    id: int
    owner_id: int
    kind: str
    mime_type: str
    size_bytes: int
    sha256: str
    width: int | None
    height: int | None
    duration_seconds: float | None
    resolution: str | None
    probed: bool
    filename: str | None
    created_at: datetime
    url: str
    thumbnail_url: str | None

    @classmethod
    def of(cls, info: MediaInfo) -> MediaOut:
        """The HTTP shape of a service result."""
        return cls(
            id=info.id,
            owner_id=info.owner_id,
            kind=info.kind,
            mime_type=info.mime_type,
            size_bytes=info.size_bytes,
            sha256=info.sha256,
            width=info.width,
            height=info.height,
            duration_seconds=info.duration_seconds,
            resolution=info.resolution,
            probed=info.probed,
            filename=info.filename,
            created_at=info.created_at,
            url=f"/v1/media/{info.id}/content",
            thumbnail_url=f"/v1/media/{info.id}/thumbnail" if info.has_thumbnail else None,
        )


class AttachmentOut(BaseModel):
    """A media item attached to a post, at a position."""

    post_id: int
    media_id: int
    position: int

    @classmethod
    def of(cls, attachment: Attachment) -> AttachmentOut:
        """The HTTP shape of a service result."""
        return cls(
            post_id=attachment.post_id,
            media_id=attachment.media_id,
            position=attachment.position,
        )
