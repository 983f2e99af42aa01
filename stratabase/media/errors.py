"""The media errors: each maps to its HTTP status (413, 415) in ``api/errors.py``."""

from __future__ import annotations

from stratabase.exceptions import InvalidInput


class MediaTooLarge(InvalidInput):
    """The upload is larger than ``STRATABASE_MEDIA_MAX_BYTES`` (HTTP 413)."""

    code = "media-too-large"


class UnsupportedMedia(InvalidInput):
    """The bytes are not an image or video we accept, or not what the client declared
    (HTTP 415)."""

    code = "unsupported-media"


__all__ = ["MediaTooLarge", "UnsupportedMedia"]
