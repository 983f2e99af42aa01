"""Entries and their byte form: what is stored is always bytes, so no hit shares an object.

An entry's envelope is a fixed header (struct), its tag versions (orjson) and the payload
(orjson of the value). Counters (``incr``) are stored as bare integers, without a header.
"""

from __future__ import annotations

import struct
from typing import Any

import orjson

from stratabase.cache.errors import CacheError

MAGIC = 0xFE  # never the first byte of UTF-8 JSON, so counters and envelopes are told apart
VERSION = 1
#: magic, version, fresh_until, stale_until, hard_until, delta, tags length
HEADER = struct.Struct("<BBdddfI")

TagVersions = tuple[tuple[str, Any], ...]


class Entry:
    """A stored value with its lifetime and the tag versions it was filled under.

    ``fresh_until`` ≤ ``stale_until`` ≤ ``hard_until`` (epoch seconds): fresh, then served
    stale while refreshing, then served only when a reload fails, then gone.
    """

    __slots__ = ("delta", "fresh_until", "hard_until", "payload", "stale_until", "tags")

    def __init__(
        self,
        payload: bytes,
        fresh_until: float,
        stale_until: float,
        hard_until: float,
        delta: float = 0.0,
        tags: TagVersions = (),
    ) -> None:
        self.payload = payload
        self.fresh_until = fresh_until
        self.stale_until = stale_until
        self.hard_until = hard_until
        #: Seconds the loader took: the weight of probabilistic early refresh.
        self.delta = delta
        self.tags = tags

    def with_tags(self, tags: TagVersions) -> Entry:
        """The same entry carrying ``tags``' versions."""
        return Entry(
            self.payload, self.fresh_until, self.stale_until, self.hard_until, self.delta, tags
        )


def dumps(value: Any) -> bytes:
    """A value as JSON bytes; CacheError if it is not JSON-able."""
    try:
        return orjson.dumps(value)
    except TypeError as exc:
        raise CacheError(f"value cannot be cached as JSON: {exc}") from exc


def loads(payload: bytes | memoryview) -> Any:
    """A value from JSON bytes (a new object every time)."""
    return orjson.loads(payload)


def encode(entry: Entry) -> bytes:
    """An entry as stored in Redis: a fixed header (times, tags), then the JSON."""
    tags = orjson.dumps(entry.tags) if entry.tags else b""
    header = HEADER.pack(
        MAGIC,
        VERSION,
        entry.fresh_until,
        entry.stale_until,
        entry.hard_until,
        entry.delta,
        len(tags),
    )
    return header + tags + entry.payload


def decode(raw: bytes) -> Entry | None:
    """The entry in ``raw``, or None when ``raw`` is not an envelope (a bare counter)."""
    if not raw or raw[0] != MAGIC:
        return None
    _, _, fresh, stale, hard, delta, size = HEADER.unpack_from(raw)
    start = HEADER.size
    tags: TagVersions = ()
    if size:
        tags = tuple((tag, version) for tag, version in orjson.loads(raw[start : start + size]))
    return Entry(raw[start + size :], fresh, stale, hard, delta, tags)
