"""Receiving an upload: a ``multipart/form-data`` body streamed to a staging file.

The body is parsed as it arrives (python-multipart's push parser): the ``file`` part's
bytes go to a staging file in the store's staging directory, hashed and counted on the way,
never held in memory whole. Past the size limit the read stops at once (413) and the
staging file is removed; so it is on any other error.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from python_multipart.multipart import MultipartParser, parse_options_header

from stratabase.exceptions import InvalidInput
from stratabase.media.errors import MediaTooLarge, UnsupportedMedia
from stratabase.media.sniff import HEAD_BYTES

#: The form field holding the file.
FILE_FIELD = "file"
#: Other (text) fields are small: at most this many bytes each.
MAX_TEXT_FIELD = 4096
#: Room for the multipart framing (boundaries, part headers, text fields) above the limit.
FRAMING_ALLOWANCE = 64 * 1024


@dataclass
class Received:
    """A received upload: its staging file, size, SHA-256, first bytes and declared type."""

    path: Path
    size: int
    sha256: str
    head: bytes
    declared_type: str | None
    filename: str | None
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        """Remove the staging file (if still there)."""
        self.path.unlink(missing_ok=True)


class _Parts:
    """The parser's callbacks: the state of the part being read."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self.name: str | None = None
        self.filename: str | None = None
        self.declared: str | None = None
        self.in_file = False
        self.seen_file = False
        self.pending: list[bytes] = []
        self.text = bytearray()
        self.fields: dict[str, str] = {}
        self.size = 0
        self.digest = hashlib.sha256()
        self.head = b""
        self.file_meta: tuple[str | None, str | None] = (None, None)

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field,
            "on_header_value": self.header_value,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self.headers = {}
        self.name = None
        self.in_file = False
        self.text = bytearray()

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def header_end(self) -> None:
        self.headers[self._field.lower()] = self._value
        self._field = b""
        self._value = b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = options.get(b"name")
        self.name = name.decode("utf-8", "replace") if name is not None else None
        if self.name == FILE_FIELD:
            if self.seen_file:
                raise InvalidInput("send one file per upload", field=FILE_FIELD)
            self.seen_file = self.in_file = True
            filename = options.get(b"filename")
            declared = self.headers.get(b"content-type")
            self.file_meta = (
                filename.decode("utf-8", "replace")[:255] if filename else None,
                declared.decode("latin-1") if declared else None,
            )

    def part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.in_file:
            self.size += len(chunk)
            if self.size > self.limit:
                raise MediaTooLarge(
                    f"the file is larger than the limit of {self.limit} bytes", field=FILE_FIELD
                )
            if len(self.head) < HEAD_BYTES:
                self.head += chunk[: HEAD_BYTES - len(self.head)]
            self.digest.update(chunk)
            self.pending.append(chunk)
        else:
            self.text += chunk
            if len(self.text) > MAX_TEXT_FIELD:
                raise InvalidInput(
                    f"form fields other than {FILE_FIELD!r} are limited to {MAX_TEXT_FIELD} bytes",
                    field=self.name or "body",
                )

    def part_end(self) -> None:
        if not self.in_file and self.name is not None:
            self.fields[self.name] = self.text.decode("utf-8", "replace")
        self.in_file = False


def _boundary(content_type: str | None) -> bytes:
    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UnsupportedMedia(
            "send the file as multipart/form-data with a 'file' part", field="content-type"
        )
    return boundary


async def receive(
    chunks: AsyncIterator[bytes], content_type: str | None, *, limit: int, staging: Path
) -> Received:
    """Stream a multipart body into a staging file (see the module docstring). Raises
    :class:`MediaTooLarge` past ``limit`` bytes of file, :class:`UnsupportedMedia` for a
    body that is not multipart, :class:`InvalidInput` without a ``file`` part."""
    parts = _Parts(limit)
    parser = MultipartParser(_boundary(content_type), cast(Any, parts.callbacks()))
    os.makedirs(staging, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=staging, prefix="upload-")
    path = Path(name)
    body_limit = limit + FRAMING_ALLOWANCE
    received = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in chunks:
                received += len(chunk)
                if received > body_limit:
                    raise MediaTooLarge(
                        f"the file is larger than the limit of {limit} bytes", field=FILE_FIELD
                    )
                parser.write(chunk)
                if parts.pending:
                    pending, parts.pending = parts.pending, []
                    await asyncio.to_thread(out.writelines, pending)
            parser.finalize()
        if not parts.seen_file:
            raise InvalidInput("the form has no 'file' part", field=FILE_FIELD)
        if parts.size == 0:
            raise InvalidInput("the file is empty", field=FILE_FIELD)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise
    filename, declared = parts.file_meta
    return Received(
        path=path,
        size=parts.size,
        sha256=parts.digest.hexdigest(),
        head=parts.head,
        declared_type=declared,
        filename=filename,
        fields=parts.fields,
    )


__all__ = ["FILE_FIELD", "Received", "receive"]
