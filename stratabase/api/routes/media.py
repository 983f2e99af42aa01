"""Media uploads: upload (multipart, streamed), read, serve (ETag, immutable, ranges),
delete, and attach to / detach from posts."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import Response, StreamingResponse

from stratabase.api.deps import CurrentUserDep, MediaDep, WriterUserDep
from stratabase.api.routes._params import ObjectId
from stratabase.api.routes._router import public_router
from stratabase.api.schemas.common import ProblemOut
from stratabase.api.schemas.media import AttachmentOut, MediaOut
from stratabase.media.results import Content
from stratabase.media.service import MediaService

router = public_router("", "media")

#: Served bytes never change (content-addressed): cache them for a year, immutable.
IMMUTABLE = "public, max-age=31536000, immutable"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _problem(description: str) -> dict[str, Any]:
    return {
        "model": ProblemOut,
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemOut"}}
        },
    }


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        # Bounded by STRATABASE_MEDIA_MAX_BYTES; this is its ceiling.
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "maxLength": 1_099_511_627_776,
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    "/v1/media",
    response_model=MediaOut,
    status_code=201,
    openapi_extra=_UPLOAD_BODY,
    responses={
        200: {"model": MediaOut, "description": "you had already uploaded these bytes"},
        413: _problem("the file is larger than STRATABASE_MEDIA_MAX_BYTES (nothing is kept)"),
        415: _problem(
            "not multipart, or the bytes are not an accepted image/video type, "
            "or not the declared one"
        ),
    },
)
async def upload(
    request: Request, principal: WriterUserDep, media: MediaDep, response: Response
) -> MediaOut:
    """Upload an image (JPEG, PNG, GIF, WebP) or video (MP4, WebM) as the ``file`` part of
    a multipart form. The type is read from the bytes (a declared type that disagrees is
    415); past ``STRATABASE_MEDIA_MAX_BYTES`` the upload is refused (413) and nothing is
    kept. The same bytes uploaded again return the same item (200)."""
    result = await media.upload(principal, request.stream(), request.headers.get("content-type"))
    if not result.created:
        response.status_code = 200
    return MediaOut.of(result.media)


@router.get("/v1/media/{media_id}", response_model=MediaOut)
async def get_media(media_id: ObjectId, media: MediaDep) -> MediaOut:
    """An upload's metadata (dimensions, duration, resolution, thumbnail URL)."""
    return MediaOut.of(await media.get(media_id))


@router.get("/v1/media/{media_id}/content", response_class=Response)
async def media_content(request: Request, media_id: ObjectId, media: MediaDep) -> Response:
    """The uploaded bytes, with their sniffed type; ``ETag`` is their SHA-256 and they are
    cacheable forever. ``Range: bytes=…`` (one range) is answered 206."""
    return _serve(request, media, await media.content(media_id))


@router.get("/v1/media/{media_id}/thumbnail", response_class=Response)
async def media_thumbnail(request: Request, media_id: ObjectId, media: MediaDep) -> Response:
    """The image's JPEG thumbnail (at most 320 px a side); 404 for videos."""
    return _serve(request, media, await media.content(media_id, thumbnail=True))


@router.delete("/v1/media/{media_id}", status_code=204, response_class=Response)
async def delete_media(media_id: ObjectId, principal: WriterUserDep, media: MediaDep) -> Response:
    """Delete your upload (admins: any); 409 while it is attached to a post."""
    await media.delete(principal, media_id)
    return Response(status_code=204)


@router.get("/v1/posts/{post_id}/media", response_model=list[MediaOut])
async def post_media(post_id: ObjectId, media: MediaDep) -> list[MediaOut]:
    """The uploads attached to a post, in order."""
    return [MediaOut.of(info) for info in await media.attachments(post_id)]


@router.put("/v1/posts/{post_id}/media/{media_id}", response_model=AttachmentOut, status_code=201)
async def attach(
    post_id: ObjectId,
    media_id: ObjectId,
    principal: WriterUserDep,
    media: MediaDep,
    position: Annotated[int | None, Query(ge=0, le=10_000)] = None,
) -> AttachmentOut:
    """Attach one of the author's uploads to the post (its author or an admin); after the
    others unless ``position``; 409 when already attached."""
    return AttachmentOut.of(await media.attach(principal, post_id, media_id, position))


@router.delete("/v1/posts/{post_id}/media/{media_id}", status_code=204, response_class=Response)
async def detach(
    post_id: ObjectId, media_id: ObjectId, principal: CurrentUserDep, media: MediaDep
) -> Response:
    """Detach an upload from the post (its author or an admin)."""
    await media.detach(principal, post_id, media_id)
    return Response(status_code=204)


def _serve(request: Request, media: MediaService, content: Content) -> Response:
    etag = f'"{content.etag}"'
    headers = {
        "ETag": etag,
        "Cache-Control": IMMUTABLE,
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
    }
    if etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    span = _range(request.headers.get("range"), content.size)
    if span is None:
        headers["Content-Length"] = str(content.size)
        return StreamingResponse(media.read(content), media_type=content.mime_type, headers=headers)
    if span == (-1, -1):
        headers["Content-Range"] = f"bytes */{content.size}"
        return Response(status_code=416, headers=headers)
    start, stop = span
    headers["Content-Range"] = f"bytes {start}-{stop - 1}/{content.size}"
    headers["Content-Length"] = str(stop - start)
    return StreamingResponse(
        media.read(content, start, stop),
        status_code=206,
        media_type=content.mime_type,
        headers=headers,
    )


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, stop)`` of a single ``bytes=`` range; None to serve everything (no header,
    several ranges, another unit); ``(-1, -1)`` when unsatisfiable (416)."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0:
            return (-1, -1)
        return (max(0, size - suffix), size)
    start = int(first)
    stop = size if not last else min(size, int(last) + 1)
    if start >= size or stop <= start:
        return (-1, -1)
    return (start, stop)
