"""Errors the cache raises on purpose; all are :class:`~stratabase.exceptions.StratabaseError`.

A cache that cannot answer says so: a timed-out pool, an open circuit or a dead socket is
raised as :class:`CacheUnavailable`, never returned as a miss, so a caller can tell "not
cached" from "could not ask". ``get_or_load`` turns that error into a load from the source.
"""

from __future__ import annotations

from stratabase.exceptions import StratabaseError


class CacheError(StratabaseError):
    """The cache refused the operation."""

    code = "cache"


class CacheUnavailable(CacheError):
    """The cache server did not answer (down, circuit open, or no pooled connection in time)."""

    code = "cache-unavailable"
