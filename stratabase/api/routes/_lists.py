"""HTTP caching of the list reads (feeds, comment trees, profiles, users, rankings).

Every answer carries an ``ETag`` (a digest of the bytes sent); a request whose
``If-None-Match`` names it gets ``304 Not Modified`` without a body, so a changed
resource (other bytes) never answers 304. Anonymous answers may be kept by shared caches
briefly: ``Cache-Control: public, max-age=5, stale-while-revalidate=30`` — the staleness a
CDN adds for anonymous readers, on top of the server's own bounds (none for feeds, comment
trees and profiles, 45 s for rankings). Answers to a request with credentials keep the
middleware's ``no-store``.

Self-contained on purpose: meant to be merged with ``stratabase/api/responses.py``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from stratabase.api.schemas.fields import page_json, parse_fields
from stratabase.api.schemas.posts import PostOut
from stratabase.content.queries import FULL, Shape
from stratabase.pagination import Page

#: Seconds a shared cache may serve an anonymous list answer without asking again.
MAX_AGE = 5
#: Seconds after that during which it may serve it while revalidating in the background.
STALE_WHILE_REVALIDATE = 30
PUBLIC = f"public, max-age={MAX_AGE}, stale-while-revalidate={STALE_WHILE_REVALIDATE}"


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    # weak comparison (RFC 9110 13.1.2): W/"x" matches "x"
    candidates = (part.strip().removeprefix("W/") for part in header.split(","))
    return etag in candidates


def json_answer(request: Request, body: bytes, *, public: bool) -> Response:
    """``body`` as ``application/json`` with its ETag, or a 304 if the client has it."""
    etag = etag_of(body)
    headers = {"ETag": etag}
    if public and "authorization" not in request.headers:
        headers["Cache-Control"] = PUBLIC
    else:
        headers["Cache-Control"] = "private, no-cache"
    match = request.headers.get("if-none-match")
    if match is not None and _matches(match, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def post_fields(fields: str | None) -> tuple[set[str] | None, Shape]:
    """``fields=`` of a post list: the names to answer and the shape to load."""
    wanted = parse_fields(fields, PostOut)
    return wanted, Shape(frozenset(wanted)) if wanted is not None else FULL


def post_page(
    request: Request, page: Page[Any], wanted: set[str] | None, *, public: bool
) -> Response:
    """A page of posts, serialized once, with its ETag (see :func:`json_answer`)."""
    return json_answer(request, page_json(page, PostOut, wanted), public=public)
