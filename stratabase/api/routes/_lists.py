"""HTTP caching of the list reads (feeds, comment trees, profiles, users, rankings).

Every answer carries an ``ETag`` (a digest of the bytes sent); a request whose
``If-None-Match`` names it gets ``304 Not Modified`` without a body, so a changed
resource (other bytes) never answers 304. Anonymous answers may be kept by shared caches
briefly: ``Cache-Control: public, max-age=5, stale-while-revalidate=30`` — the staleness a
CDN adds for anonymous readers, on top of the server's own bounds (none for feeds, comment
trees and profiles, 45 s for rankings). Answers to a request with credentials keep the
middleware's ``no-store``.

The answer itself (ETag, 304, headers) is :func:`stratabase.api.responses.json_answer`,
shared with the post page.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from stratabase.api.responses import json_answer
from stratabase.api.schemas.fields import page_json, parse_fields
from stratabase.api.schemas.posts import PostOut
from stratabase.content.queries import FULL, Shape
from stratabase.pagination import Page


def post_fields(fields: str | None) -> tuple[set[str] | None, Shape]:
    """``fields=`` of a post list: the names to answer and the shape to load."""
    wanted = parse_fields(fields, PostOut)
    return wanted, Shape(frozenset(wanted)) if wanted is not None else FULL


def post_page(
    request: Request, page: Page[Any], wanted: set[str] | None, *, public: bool
) -> Response:
    """A page of posts, serialized once, with its ETag (see :func:`json_answer`)."""
    return json_answer(request, page_json(page, PostOut, wanted), public=public)
