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

**Whole anonymous answers.** A list page an anonymous reader asks for (a category feed,
popular, trending, a comment tree, a profile, a batch of users, search) is the same bytes
for every anonymous reader, so :func:`cached_answer` keeps those bytes (and their
``ETag``) in the cache under the request's path and query (:func:`answer_key`), with the
tags of everything they were built from, for as long as the page may be served (at most
:data:`counters.BOUND` where it shows counters: the post page's bound).
:class:`~stratabase.api.fast_path.PostPageFastPath` answers the next such request from
them, below the framework. The entry is filled the way every cached read is
(``Cache.get_or_load``: tag versions taken before the load, a fill refused if a write
touched one meanwhile), so a write that changes the answer makes it a miss at once, in
this process and, on two tiers, in the others as soon as the invalidation arrives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from stratabase.cache import Cache
from stratabase.cache.errors import CacheError

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


def answer_key(path: str, query: bytes) -> str:
    """The cache key of the anonymous answer to ``GET path?query`` (a digest: free text
    never appears in a key)."""
    digest = hashlib.blake2b(path.encode() + b"?" + query, digest_size=16).hexdigest()
    return "answer:" + digest


@dataclass(frozen=True)
class Rendered:
    """An anonymous answer's body and what keeping it depends on: ``tags`` whose
    invalidation changes it (None: not to be kept, e.g. an empty page) and ``fresh_for``,
    the seconds it may be served (below 1: not kept)."""

    body: bytes
    tags: tuple[str, ...] | None
    fresh_for: float


#: Builds an answer; its argument is True for an answer that may be kept (then counters are
#: read exactly, in one statement, so a kept answer is never older than its ``fresh_for``).
Render = Callable[[bool], Awaitable[Rendered]]


async def cached_answer(request: Request, cache: Cache, render: Render) -> Response:
    """An anonymous, public answer, kept whole for the fast path (see the module).

    ``render`` runs once to learn the tags (the posts on the page decide them), then once
    more inside the guarded fill, after the tags' versions are taken: a write committed
    between the two invalidates a tag the fill checks, so a stale answer is never stored.
    If the second render depends on other tags (the page changed meanwhile), it is
    answered but not kept."""
    first = await render(True)  # one statement for the counters, not one per cold post
    if first.tags is None or first.fresh_for < 1 or "authorization" in request.headers:
        return json_answer(request, first.body, public=True)
    key = answer_key(request.scope["path"], request.scope["query_string"])
    tags = first.tags

    async def load() -> list[str]:
        again = await render(True)
        if again.tags != tags or again.fresh_for < 1:
            raise _Moved(again.body)
        return [etag_of(again.body), again.body.decode()]

    try:
        stored = await cache.get_or_load(key, load, tags=list(tags), ttl=first.fresh_for)
    except _Moved as moved:
        return json_answer(request, moved.body, public=True)
    except CacheError:
        return json_answer(request, first.body, public=True)
    return json_answer(request, stored[1].encode(), public=True)


class _Moved(Exception):
    """The page changed between the two renders: answered, not kept."""

    def __init__(self, body: bytes) -> None:
        super().__init__("the answer changed while it was built")
        self.body = body


def splice(document: bytes, name: str, value: bytes) -> bytes:
    """``document`` (a JSON object) with one more member ``name`` whose JSON is ``value``."""
    member = b'"' + name.encode() + b'":'
    return document[:-1] + (b"," if len(document) > 2 else b"") + member + value + b"}"


__all__ = [
    "PUBLIC_CACHE_CONTROL",
    "PUBLIC_MAX_AGE",
    "PUBLIC_STALE_WHILE_REVALIDATE",
    "Render",
    "Rendered",
    "answer_key",
    "cached_answer",
    "etag_of",
    "json_answer",
    "matches",
    "splice",
]
