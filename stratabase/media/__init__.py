"""Media and video: uploads streamed to content-addressed storage, image and video
metadata, attachment to posts, and the video lists of seed 004 (trending, stats).

- :mod:`~stratabase.media.service`: the use cases (:class:`MediaService`).
- :mod:`~stratabase.media.store`: the :class:`MediaStore` protocol, filesystem and S3 stores.
- :mod:`~stratabase.media.upload`: receiving a multipart body as a stream.
- :mod:`~stratabase.media.sniff`: the type from the bytes.
- :mod:`~stratabase.media.probe`: dimensions, thumbnails (Pillow), video metadata (ffprobe).
- :mod:`~stratabase.media.videos`: trending videos and a video with its stats.
- :mod:`~stratabase.media.jobs`: the ``media.probe`` task.
- :mod:`~stratabase.media.results`: the typed results.
"""

from stratabase.media.errors import MediaTooLarge, UnsupportedMedia
from stratabase.media.results import Attachment, Content, MediaInfo, Upload, VideoStats
from stratabase.media.service import MediaService
from stratabase.media.store import FilesystemStore, MediaStore, S3Store, build_store

__all__ = [
    "Attachment",
    "Content",
    "FilesystemStore",
    "MediaInfo",
    "MediaService",
    "MediaStore",
    "MediaTooLarge",
    "S3Store",
    "UnsupportedMedia",
    "Upload",
    "VideoStats",
    "build_store",
]
