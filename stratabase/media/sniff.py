"""What a file is, from its first bytes (magic numbers), never from what the client says."""

from __future__ import annotations

from dataclasses import dataclass

#: Bytes of the head :func:`sniff` needs to decide.
HEAD_BYTES = 64


@dataclass(frozen=True)
class Sniffed:
    """The kind (``image`` / ``video``) and MIME type the bytes are."""

    kind: str
    mime_type: str


_IMAGE_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
#: ISO-BMFF brands served as MP4 / QuickTime (``ftyp`` box at offset 4).
_MP4_BRANDS = {
    b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"dash", b"M4V ",
    b"MSNV", b"3gp4", b"3gp5", b"mmp4",
}  # fmt: skip


def sniff(head: bytes) -> Sniffed | None:
    """The type of a file from its first :data:`HEAD_BYTES` bytes: JPEG, PNG, GIF, WebP,
    MP4 (ISO-BMFF ``ftyp``), QuickTime, WebM (EBML); None for anything else."""
    for prefix, mime in _IMAGE_PREFIXES:
        if head.startswith(prefix):
            return Sniffed("image", mime)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image", "image/webp")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return Sniffed("video", "video/quicktime")
        if brand in _MP4_BRANDS:
            return Sniffed("video", "video/mp4")
        return None
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        # EBML: WebM and Matroska share it; the doctype says which.
        return Sniffed("video", "video/webm" if b"webm" in head else "video/x-matroska")
    return None


def declared_matches(declared: str | None, sniffed: Sniffed) -> bool:
    """Whether the type a client declared agrees with the bytes: absent or generic
    (``application/octet-stream``) agrees with anything; otherwise the MIME types must
    match (``image/jpg`` taken as ``image/jpeg``)."""
    if not declared:
        return True
    value = declared.split(";", 1)[0].strip().lower()
    if value in ("", "application/octet-stream"):
        return True
    aliases = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "video/x-m4v": "video/mp4"}
    return aliases.get(value, value) == sniffed.mime_type


__all__ = ["HEAD_BYTES", "Sniffed", "declared_matches", "sniff"]
