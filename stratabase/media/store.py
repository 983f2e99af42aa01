"""Content-addressed media storage behind a small protocol.

Keys are derived from the bytes' SHA-256 (:func:`blob_key`, :func:`thumbnail_key`), so
the same bytes are stored once whoever uploads them. Two stores:

- :class:`FilesystemStore` (the embedded default): files under ``STRATABASE_MEDIA_DIR``,
  written to a staging file and renamed into place (a reader never sees half a file).
- :class:`S3Store`: any S3-compatible service (``STRATABASE_MEDIA_S3_*``; needs the ``s3``
  extra, boto3), its blocking calls run in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from stratabase.exceptions import ConfigError
from stratabase.settings import Settings

#: Bytes per read when serving or copying.
CHUNK = 256 * 1024


def blob_key(sha256: str) -> str:
    """The store key of the bytes with this SHA-256 (hex)."""
    return f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def thumbnail_key(sha256: str) -> str:
    """The store key of the thumbnail of the image with this SHA-256."""
    return f"thumbs/{sha256[:2]}/{sha256}.jpg"


class MediaStore(Protocol):
    """Where media bytes live; every key is content-addressed, so a put is idempotent."""

    #: A directory for uploads being received (a staging file moves cheaply from here).
    staging: Path

    async def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        ...

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Store the file at ``path`` under ``key`` (the file is consumed: moved or removed)."""
        ...

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key``."""
        ...

    def read(self, key: str, start: int = 0, stop: int | None = None) -> AsyncIterator[bytes]:
        """The bytes ``[start, stop)`` of ``key`` (to the end when ``stop`` is None), in chunks."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key`` (nothing if absent)."""
        ...


class FilesystemStore:
    """Files under a root directory; writes land in ``root/.staging`` then are renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.staging = root / ".staging"
        self.staging.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / key

    async def exists(self, key: str) -> bool:
        """Whether the file is there."""
        return self._path(key).is_file()

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Rename the staged file into place (copy then rename across filesystems)."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, target)
        except OSError:
            await asyncio.to_thread(self._copy_into, path, target)

    def _copy_into(self, path: Path, target: Path) -> None:
        fd, temp = tempfile.mkstemp(dir=self.staging)
        try:
            with os.fdopen(fd, "wb") as out, path.open("rb") as src:
                shutil.copyfileobj(src, out, CHUNK)
            os.replace(temp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            path.unlink(missing_ok=True)

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        """Write to a staging file, then rename it into place."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self.staging)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temp, target)

    async def read(self, key: str, start: int = 0, stop: int | None = None) -> AsyncIterator[bytes]:
        """Chunks of the file, each read in a thread."""
        handle = await asyncio.to_thread(self._path(key).open, "rb")
        try:
            await asyncio.to_thread(handle.seek, start)
            left = None if stop is None else stop - start
            while left is None or left > 0:
                size = CHUNK if left is None else min(CHUNK, left)
                chunk = await asyncio.to_thread(handle.read, size)
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        """Unlink the file."""
        self._path(key).unlink(missing_ok=True)


class S3Store:
    """An S3-compatible bucket (AWS, MinIO, Ceph, moto…) through boto3, calls in threads."""

    def __init__(self, settings: Settings) -> None:
        try:
            import boto3  # type: ignore[import-untyped,unused-ignore]
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise ConfigError(
                "STRATABASE_MEDIA_S3_BUCKET is set but boto3 is not installed: "
                "pip install 'stratabase[s3]'"
            ) from exc
        self.bucket = settings.media_s3_bucket
        self.prefix = settings.media_s3_prefix
        self.staging = Path(tempfile.gettempdir())
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=settings.media_s3_endpoint_url or None,
            region_name=settings.media_s3_region,
            aws_access_key_id=settings.media_s3_access_key or None,
            aws_secret_access_key=settings.media_s3_secret_key.get_secret_value() or None,
        )

    def _key(self, key: str) -> str:
        return self.prefix + key

    async def exists(self, key: str) -> bool:
        """HEAD the object (404: absent)."""
        try:
            await asyncio.to_thread(
                self._client.head_object, Bucket=self.bucket, Key=self._key(key)
            )
        except Exception as exc:
            status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404:
                return False
            raise
        return True

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Upload the file (multipart for large ones), then remove it."""
        try:
            await asyncio.to_thread(
                self._client.upload_file,
                str(path),
                self.bucket,
                self._key(key),
                ExtraArgs={"ContentType": content_type},
            )
        finally:
            await asyncio.to_thread(path.unlink, missing_ok=True)

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        """PUT the object."""
        await asyncio.to_thread(
            self._client.put_object,
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            ContentType=content_type,
        )

    async def read(self, key: str, start: int = 0, stop: int | None = None) -> AsyncIterator[bytes]:
        """GET the object (a Range GET for part of it), streamed in chunks."""
        extra: dict[str, str] = {}
        if start or stop is not None:
            extra["Range"] = f"bytes={start}-{'' if stop is None else stop - 1}"
        response = await asyncio.to_thread(
            self._client.get_object, Bucket=self.bucket, Key=self._key(key), **extra
        )
        body = response["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK):
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        """DELETE the object."""
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=self._key(key))


def media_root(settings: Settings) -> Path:
    """The filesystem store's directory: ``media_dir``, else ``media/`` beside the SQLite
    file, else ``./stratabase-media``."""
    if settings.media_dir:
        return Path(settings.media_dir)
    url = settings.database_url
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).resolve().parent / "media"
    return Path("stratabase-media").resolve()


def build_store(settings: Settings) -> MediaStore:
    """The store the settings choose: S3 when ``media_s3_bucket`` is set, else the filesystem."""
    if settings.media_s3_bucket:
        return S3Store(settings)
    return FilesystemStore(media_root(settings))


__all__ = [
    "FilesystemStore",
    "MediaStore",
    "S3Store",
    "blob_key",
    "build_store",
    "media_root",
    "thumbnail_key",
]
