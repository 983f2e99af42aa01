"""Opaque keyset cursors: every list is paged by ``(sort key, id)``, never by OFFSET.

A cursor is the last row's sort values, JSON-encoded, tagged with the list it belongs to
and signed with HMAC-SHA256 under the settings' secret key. Anything the client changes,
truncates or carries over from another list is refused as InvalidInput (a 422 with
``field="cursor"``), never a 500 and never a silently wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import literal, tuple_

from stratabase.exceptions import InvalidInput

T = TypeVar("T")

#: Page size bounds shared by every list endpoint.
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_MAX_CURSOR_LENGTH = 1024
_SIGNATURE_BYTES = 16

CursorValue = int | float | str | datetime | None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One keyset page of a list, and the cursor of the next one (None: the last)."""

    items: list[T]
    next_cursor: str | None

    @property
    def has_more(self) -> bool:
        """True when another page follows."""
        return self.next_cursor is not None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _encode_value(value: CursorValue) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    return value


def _decode_value(value: Any) -> CursorValue:
    if isinstance(value, dict) and set(value) == {"t"} and isinstance(value["t"], str):
        parsed = datetime.fromisoformat(value["t"])
        if parsed.tzinfo is None:
            raise ValueError("naive timestamp")
        return parsed
    if value is None or isinstance(value, int | float | str):
        return value
    raise ValueError("unexpected value")


class CursorCodec:
    """Signs and checks cursors; one per app, keyed by ``settings.secret_key``."""

    def __init__(self, secret: str | bytes) -> None:
        self._key = secret.encode() if isinstance(secret, str) else secret

    def _sign(self, kind: str, payload: str) -> str:
        mac = hmac.new(self._key, f"{kind}\x00{payload}".encode(), hashlib.sha256).digest()
        return _b64(mac[:_SIGNATURE_BYTES])

    def encode(self, kind: str, values: Sequence[CursorValue]) -> str:
        """A signed cursor holding the last row's sort ``values``, for list ``kind``."""
        payload = _b64(
            json.dumps([_encode_value(v) for v in values], separators=(",", ":")).encode()
        )
        return f"{payload}.{self._sign(kind, payload)}"

    def decode(self, kind: str, cursor: str, arity: int) -> list[CursorValue]:
        """The values of a cursor made by ``encode(kind, …)``, or InvalidInput."""
        if len(cursor) > _MAX_CURSOR_LENGTH or cursor.count(".") != 1:
            raise _bad_cursor()
        payload, signature = cursor.split(".")
        if not hmac.compare_digest(signature.encode(), self._sign(kind, payload).encode()):
            raise _bad_cursor()
        try:
            raw = json.loads(_unb64(payload))
            if not isinstance(raw, list) or len(raw) != arity:
                raise ValueError("wrong arity")
            return [_decode_value(value) for value in raw]
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise _bad_cursor() from exc


def _bad_cursor() -> InvalidInput:
    return InvalidInput("the cursor is malformed or does not belong to this list", field="cursor")


def after(columns: Sequence[Any], values: Sequence[Any], *, descending: bool) -> Any:
    """Rows strictly after ``values`` in ``ORDER BY columns`` (all DESC or all ASC).

    A row-value comparison, ``(a, b) < (x, y)``: both SQLite and PostgreSQL turn it into a
    range scan of the composite index, so a page deep in the list costs what the first does
    (the equivalent ``a < x OR (a = x AND b < y)`` makes SQLite scan from the start).
    """
    left = tuple_(*columns)
    right = tuple_(
        *(literal(value, type_=column.type) for column, value in zip(columns, values, strict=True))
    )
    return left < right if descending else left > right


def clamp_limit(limit: int | None) -> int:
    """A page size inside 1..MAX_LIMIT (DEFAULT_LIMIT when not given)."""
    if limit is None:
        return DEFAULT_LIMIT
    return max(1, min(MAX_LIMIT, limit))
