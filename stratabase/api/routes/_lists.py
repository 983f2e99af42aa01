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

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from stratabase.api.responses import Rendered, cached_answer, json_answer
from stratabase.api.schemas.fields import page_json, parse_fields
from stratabase.api.schemas.posts import PostOut
from stratabase.cache import Cache
from stratabase.content.queries import FULL, Shape
from stratabase.feeds.pages import TaggedPage
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


async def public_post_page(
    request: Request,
    cache: Cache,
    load: Callable[[bool], Awaitable[TaggedPage[Any]]],
    wanted: set[str] | None,
) -> Response:
    """An anonymous page of posts, kept whole for the fast path
    (:func:`~stratabase.api.responses.cached_answer`); ``load(exact)`` reads the page,
    with counters from the database when ``exact``. An empty page is not kept."""

    async def render(exact: bool) -> Rendered:
        page = await load(exact)
        tags = page.tags if page.items else None
        return Rendered(page_json(page, PostOut, wanted), tags, page.fresh_for)

    return await cached_answer(request, cache, render)
