"""Reading what a file is: image dimensions and thumbnails (Pillow), video duration and
resolution (ffprobe, when it is on the PATH)."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from stratabase.media.errors import UnsupportedMedia

#: Longest side of a thumbnail, in pixels.
THUMBNAIL_SIZE = 320


@dataclass(frozen=True)
class ImageFacts:
    """An image's dimensions and its JPEG thumbnail."""

    width: int
    height: int
    thumbnail: bytes


@dataclass(frozen=True)
class VideoFacts:
    """A video's duration and resolution (any may be unknown)."""

    duration_seconds: float | None
    width: int | None
    height: int | None


def _image_facts(path: Path, max_pixels: int) -> ImageFacts:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                width, height = image.size
                # The header is read; refuse before decoding a pixel.
                if width * height > max_pixels:
                    raise UnsupportedMedia(
                        f"the image has {width * height} pixels, more than the limit of "
                        f"{max_pixels}",
                        field="file",
                    )
                image.draft("RGB", (THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                out = io.BytesIO()
                image.convert("RGB").save(out, "JPEG", quality=80)
        except UnsupportedMedia:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise UnsupportedMedia(
                f"the image is too large to decode: {exc}", field="file"
            ) from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise UnsupportedMedia(
                "the file starts like an image but cannot be decoded", field="file"
            ) from exc
    return ImageFacts(width, height, out.getvalue())


async def image_facts(path: Path, max_pixels: int) -> ImageFacts:
    """Dimensions and thumbnail, decoded in a thread; an image over ``max_pixels`` pixels
    (a decompression bomb) is refused from its header, before any pixel is decoded."""
    return await asyncio.to_thread(_image_facts, path, max_pixels)


def ffprobe_available() -> bool:
    """Whether ``ffprobe`` is on the PATH (video metadata needs it)."""
    return shutil.which("ffprobe") is not None


async def video_facts(path: Path) -> VideoFacts | None:
    """Duration and resolution read by ``ffprobe``; None when ffprobe is not installed or
    cannot read the file."""
    executable = shutil.which("ffprobe")
    if executable is None:
        return None
    process = await asyncio.create_subprocess_exec(
        executable,
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        return None
    try:
        data = json.loads(output)
    except ValueError:
        return None
    video: dict[str, Any] = next(
        (s for s in data.get("streams", []) if s.get("codec_type") == "video"), {}
    )
    duration = data.get("format", {}).get("duration") or video.get("duration")
    return VideoFacts(
        duration_seconds=float(duration) if duration is not None else None,
        width=int(video["width"]) if video.get("width") else None,
        height=int(video["height"]) if video.get("height") else None,
    )


__all__ = ["ImageFacts", "VideoFacts", "ffprobe_available", "image_facts", "video_facts"]
