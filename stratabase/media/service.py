"""Media use cases: upload, read, serve, delete, attach to and detach from posts.

Rules: uploads are any signed-in writer's; only the owner (or an admin) deletes one, and
never while it is attached (409). Attaching and detaching are the post author's (or an
admin's), and only the author's own uploads attach to a post. Reads are public: an upload's
id is its capability (bytes are content-addressed, served immutable).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth.principal import Principal
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.exceptions import AlreadyExists, Conflict, NotFound, PermissionDenied
from stratabase.jobs.service import enqueue_in
from stratabase.media import probe, upload
from stratabase.media.errors import UnsupportedMedia
from stratabase.media.results import Attachment, Content, MediaInfo, Upload
from stratabase.media.sniff import declared_matches, sniff
from stratabase.media.store import MediaStore, blob_key, thumbnail_key
from stratabase.media.upload import Received
from stratabase.models import Post
from stratabase.models.media_store import MediaObject, post_media
from stratabase.schemas.jobs import JobCreate
from stratabase.settings import Settings

#: The task that reads a video's metadata later when ffprobe was missing at upload.
PROBE_TASK = "media.probe"


class MediaService:
    """Uploads and attachments over one database and one media store."""

    def __init__(self, db: Database, store: MediaStore, settings: Settings) -> None:
        self.db = db
        self.store = store
        self.settings = settings

    async def upload(
        self, principal: Principal, body: AsyncIterator[bytes], content_type: str | None
    ) -> Upload:
        """Receive a multipart upload (streamed, size-limited), check its type from its
        bytes, read its metadata, store it once by content and record it for the caller."""
        principal.require_writer()
        received = await upload.receive(
            body,
            content_type,
            limit=self.settings.media_max_bytes,
            staging=self.store.staging,
        )
        try:
            return await self._keep(principal, received)
        finally:
            received.discard()

    async def _keep(self, principal: Principal, received: Received) -> Upload:
        sniffed = sniff(received.head)
        if sniffed is None:
            raise UnsupportedMedia(
                "the file is not a JPEG, PNG, GIF or WebP image nor an MP4 or WebM video",
                field=upload.FILE_FIELD,
            )
        if not declared_matches(received.declared_type, sniffed):
            raise UnsupportedMedia(
                f"the file was declared {received.declared_type!r} but its bytes are "
                f"{sniffed.mime_type}",
                field=upload.FILE_FIELD,
            )
        width = height = None
        duration = None
        thumbnail: bytes | None = None
        probed = False
        if sniffed.kind == "image":
            facts = await probe.image_facts(received.path, self.settings.media_max_pixels)
            width, height, thumbnail = facts.width, facts.height, facts.thumbnail
            probed = True
        else:
            video = await probe.video_facts(received.path)
            if video is not None:
                width, height, duration = video.width, video.height, video.duration_seconds
                probed = True
        key = blob_key(received.sha256)
        stored = False
        if not await self.store.exists(key):
            await self.store.put_file(key, received.path, sniffed.mime_type)
            stored = True
        thumb_key = None
        if thumbnail is not None:
            thumb_key = thumbnail_key(received.sha256)
            if not await self.store.exists(thumb_key):
                await self.store.put_bytes(thumb_key, thumbnail, "image/jpeg")

        async def work(session: AsyncSession) -> tuple[MediaObject, bool]:
            existing = await session.scalar(
                select(MediaObject).where(
                    MediaObject.owner_id == principal.user_id,
                    MediaObject.sha256 == received.sha256,
                )
            )
            if existing is not None:
                return existing, False
            row = MediaObject(
                owner_id=principal.user_id,
                sha256=received.sha256,
                storage_key=key,
                kind=sniffed.kind,
                mime_type=sniffed.mime_type,
                size_bytes=received.size,
                width=width,
                height=height,
                duration_seconds=duration,
                thumbnail_key=thumb_key,
                probed_at=utcnow() if probed and sniffed.kind == "video" else None,
                filename=received.filename,
            )
            session.add(row)
            await session.flush()
            if sniffed.kind == "video" and not probed:
                await enqueue_in(
                    session,
                    [
                        JobCreate(
                            task=PROBE_TASK,
                            queue="maintenance",
                            payload={"media_id": row.id},
                            max_attempts=3,
                        )
                    ],
                )
            return row, True

        row, created = await self.db.transaction(work)
        if not stored and not await self.store.exists(key):
            # The last other item of these bytes was deleted meanwhile: store them again.
            await self.store.put_file(key, received.path, sniffed.mime_type)
            stored = True
        if thumbnail is not None and thumb_key and not await self.store.exists(thumb_key):
            await self.store.put_bytes(thumb_key, thumbnail, "image/jpeg")
        return Upload(MediaInfo.of(row), created, stored)

    async def get(self, media_id: int) -> MediaInfo:
        """An upload's metadata (404 when there is none)."""
        async with self.db.session() as session:
            return MediaInfo.of(await _media(session, media_id))

    async def content(self, media_id: int, *, thumbnail: bool = False) -> Content:
        """Where an upload's bytes (or its thumbnail) are, with their type, size and ETag."""
        info = await self.get(media_id)
        if not thumbnail:
            return Content(blob_key(info.sha256), info.mime_type, info.size_bytes, info.sha256)
        if not info.has_thumbnail:
            raise NotFound(f"media {media_id} has no thumbnail", field="media_id")
        key = thumbnail_key(info.sha256)
        size = 0
        async for chunk in self.store.read(key):
            size += len(chunk)
        return Content(key, "image/jpeg", size, f"{info.sha256}-thumb")

    async def delete(self, principal: Principal, media_id: int) -> None:
        """Delete an upload (its owner or an admin; 409 while attached). Its bytes leave the
        store when no other upload of the same bytes remains."""
        principal.require_writer()

        async def work(session: AsyncSession) -> tuple[str, bool]:
            row = await _media(session, media_id)
            if row.owner_id != principal.user_id and not principal.is_admin:
                raise PermissionDenied("only the uploader deletes an upload", field="media_id")
            attached = await session.scalar(
                select(func.count()).select_from(post_media).where(post_media.c.media_id == row.id)
            )
            if attached:
                raise Conflict(
                    f"media {media_id} is attached to {attached} post(s): detach it first",
                    field="media_id",
                )
            await session.delete(row)
            await session.flush()
            others = await session.scalar(
                select(func.count())
                .select_from(MediaObject)
                .where(MediaObject.sha256 == row.sha256)
            )
            return row.sha256, not others

        sha256, last = await self.db.transaction(work)
        if last:
            await self.store.delete(blob_key(sha256))
            await self.store.delete(thumbnail_key(sha256))

    async def attach(
        self, principal: Principal, post_id: int, media_id: int, position: int | None = None
    ) -> Attachment:
        """Attach an upload to a post (the post's author or an admin; the upload must be the
        author's), after the post's other media unless ``position`` is given."""
        principal.require_writer()

        async def work(session: AsyncSession) -> Attachment:
            post, row = await _editable(session, principal, post_id, media_id)
            if row.owner_id != post.author_id:
                raise PermissionDenied(
                    "only the post author's own uploads can be attached", field="media_id"
                )
            taken = await session.scalar(
                select(post_media.c.media_id).where(
                    post_media.c.post_id == post_id, post_media.c.media_id == media_id
                )
            )
            if taken is not None:
                raise AlreadyExists(
                    f"media {media_id} is already attached to post {post_id}", field="media_id"
                )
            if position is None:
                last = await session.scalar(
                    select(func.max(post_media.c.position)).where(post_media.c.post_id == post_id)
                )
                where = 0 if last is None else last + 1
            else:
                where = position
            await session.execute(
                insert(post_media).values(post_id=post_id, media_id=media_id, position=where)
            )
            return Attachment(post_id, media_id, where)

        return await self.db.transaction(work)

    async def detach(self, principal: Principal, post_id: int, media_id: int) -> None:
        """Detach an upload from a post (the post's author or an admin)."""
        principal.require_writer()

        async def work(session: AsyncSession) -> None:
            await _editable(session, principal, post_id, media_id)
            result = await session.execute(
                delete(post_media).where(
                    post_media.c.post_id == post_id, post_media.c.media_id == media_id
                )
            )
            if not getattr(result, "rowcount", 0):
                raise NotFound(
                    f"media {media_id} is not attached to post {post_id}", field="media_id"
                )

        await self.db.transaction(work)

    async def attachments(self, post_id: int) -> list[MediaInfo]:
        """A post's attached uploads, in order."""
        async with self.db.session() as session:
            if await session.get(Post, post_id) is None:
                raise NotFound(f"post {post_id} does not exist", field="post_id")
            rows = await session.scalars(
                select(MediaObject)
                .join(post_media, post_media.c.media_id == MediaObject.id)
                .where(post_media.c.post_id == post_id)
                .order_by(post_media.c.position, MediaObject.id)
            )
            return [MediaInfo.of(row) for row in rows]

    def read(
        self, content: Content, start: int = 0, stop: int | None = None
    ) -> AsyncIterator[bytes]:
        """The stored bytes of ``content`` (a range of them), in chunks."""
        return self.store.read(content.key, start, stop)


async def _media(session: AsyncSession, media_id: int) -> MediaObject:
    row = await session.get(MediaObject, media_id)
    if row is None:
        raise NotFound(f"media {media_id} does not exist", field="media_id")
    return row


async def _editable(
    session: AsyncSession, principal: Principal, post_id: int, media_id: int
) -> tuple[Post, MediaObject]:
    post = await session.get(Post, post_id)
    if post is None:
        raise NotFound(f"post {post_id} does not exist", field="post_id")
    if post.author_id != principal.user_id and not principal.is_admin:
        raise PermissionDenied("only the post's author changes its media", field="post_id")
    return post, await _media(session, media_id)


__all__ = ["PROBE_TASK", "MediaService"]
