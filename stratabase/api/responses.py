"""Answers from bytes serialized once: ``ETag``, ``If-None-Match`` → 304, ``Cache-Control``.

A cached read that already holds its JSON as bytes answers with :func:`json_answer`: no
validation, no encoding, and a strong ``ETag`` computed over the exact bytes sent, so any
change in what the reader would receive (an edit, a like, a new comment, their own
``liked``) changes the tag and can never be answered 304. Routes keep ``response_model``
for the OpenAPI document; FastAPI does not validate a returned ``Response``.

Anonymous answers may be kept by shared caches for a few seconds (``Cache-Control:
public, max-age=…, stale-while-revalidate=…``); answers to a request with credentials get
``no-store`` from :class:`~stratabase.api.middleware.SecurityHeaders`. Both carry ``Vary:
Authorization`` so a shared cache never hands an anonymous copy to a signed-in reader.
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response

#: Seconds a shared cache or browser may reuse an anonymous answer without asking.
PUBLIC_MAX_AGE = 5
#: Seconds after that during which it may serve the old copy while it revalidates.
PUBLIC_STALE_WHILE_REVALIDATE = 30
PUBLIC_CACHE_CONTROL = (
    f"public, max-age={PUBLIC_MAX_AGE}, stale-while-revalidate={PUBLIC_STALE_WHILE_REVALIDATE}"
)


def etag_of(body: bytes) -> str:
    """A strong entity tag over the exact bytes of an answer (128-bit BLAKE2b)."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison, RFC 9110
    13.1.2: ``W/"x"`` matches ``"x"``; ``*`` matches any current representation)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False


def json_answer(request: Request, body: bytes, *, public: bool) -> Response:
    """``body`` (UTF-8 JSON) as a 200 with its ``ETag``, or a bodiless 304 when the
    request's ``If-None-Match`` names it. ``public``: the answer is the same for every
    anonymous reader and may sit in shared caches briefly."""
    etag = etag_of(body)
    headers = {"ETag": etag, "Vary": "Authorization"}
    if public:
        headers["Cache-Control"] = PUBLIC_CACHE_CONTROL
    if matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def splice(document: bytes, name: str, value: bytes) -> bytes:
    """``document`` (a JSON object) with one more member ``name`` whose JSON is ``value``."""
    member = b'"' + name.encode() + b'":'
    return document[:-1] + (b"," if len(document) > 2 else b"") + member + value + b"}"


__all__ = [
    "PUBLIC_CACHE_CONTROL",
    "PUBLIC_MAX_AGE",
    "PUBLIC_STALE_WHILE_REVALIDATE",
    "etag_of",
    "json_answer",
    "matches",
    "splice",
]
