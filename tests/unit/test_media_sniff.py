"""The media type comes from the bytes: each accepted format, and what is refused."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from stratabase.media.sniff import Sniffed, declared_matches, sniff


def _image(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
def test_images_are_recognised_from_their_bytes(fmt: str, mime: str) -> None:
    assert sniff(_image(fmt)[:64]) == Sniffed("image", mime)


def test_videos_are_recognised_from_their_bytes() -> None:
    assert sniff(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00") == Sniffed("video", "video/mp4")
    assert sniff(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00") == Sniffed("video", "video/quicktime")
    webm = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm"
    assert sniff(webm) == Sniffed("video", "video/webm")


@pytest.mark.parametrize(
    "head",
    [b"", b"<svg xmlns='http://www.w3.org/2000/svg'>", b"%PDF-1.7", b"\x00\x00\x00\x18ftypheic"],
)
def test_other_bytes_are_refused(head: bytes) -> None:
    assert sniff(head) is None


def test_declared_types_must_agree() -> None:
    png = Sniffed("image", "image/png")
    assert declared_matches(None, png)
    assert declared_matches("application/octet-stream", png)
    assert declared_matches("image/png; charset=binary", png)
    assert not declared_matches("image/jpeg", png)
    assert declared_matches("image/jpg", Sniffed("image", "image/jpeg"))
