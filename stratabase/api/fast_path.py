"""The anonymous post page answered below the framework: the hottest read skips routing,
dependency solving and the middleware stack, which cost several times the read itself.

``GET /v1/posts/<id>`` with no query string, no credentials and no ``Origin`` is the page
anonymous readers and crawlers ask for most; its answer is cached bytes
(:mod:`stratabase.content.reads`). FastAPI spends ~0.25 ms of CPU per request on routing,
dependency solving and middleware before a route runs (docs/operations.md) while a cached
page costs well under that: :class:`PostPageFastPath` answers such a request itself with the
same use case (:func:`reads.get_post`), the same rate limit (scope ``read``, per client
address) and the same headers and ``ETag``/304 rules as the route (:func:`json_answer`).

The same wrapper answers the anonymous list pages whose whole answer the routes keep
(:func:`stratabase.api.responses.cached_answer`: category feeds, popular, trending, comment
trees, profiles, batches of users, search): a plain ``GET`` of one of those paths, any
query string, no credentials, no ``Origin``, is looked up under :func:`answer_key` and,
when kept, answered from those bytes with their ``ETag`` (304 when ``If-None-Match`` names
it), after the same rate limit. A miss goes to the route, which answers and keeps the
answer for the next request.

Anything else, and anything that goes wrong (a post that does not exist or is not visible,
a refused rate limit, a cache or database error), falls through to the full application,
which answers it as before: the fast path can make an answer faster, never different. A
refused request is counted a second time by the route; it was refused already.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stratabase.api.client_ip import client_ip, limit_key
from stratabase.api.responses import PUBLIC_CACHE_CONTROL, answer_key, etag_of, matches
from stratabase.content import reads
from stratabase.schemas.common import MAX_ID

#: ``/v1/posts/<id>``: an id as the route's ``ObjectId`` reads it (no sign, no leading 0).
_POST_PAGE = re.compile(r"/v1/posts/([1-9][0-9]{0,18})")
#: Paths whose anonymous answers the routes keep whole (see ``responses.cached_answer``).
_KEPT_ANSWERS = re.compile(
    r"/v1/(?:feed/categories/[1-9][0-9]{0,18}|posts/(?:popular|trending)"
    r"|posts/[1-9][0-9]{0,18}/comments|users(?:/[1-9][0-9]{0,18})?|search)"
)
#: Headers that send a request down the full path (credentials, CORS, conditional forms
#: other than If-None-Match are simply ignored by the route too).
_FULL_PATH_HEADERS = frozenset({b"authorization", b"origin"})


class PostPageFastPath:
    """ASGI wrapper: anonymous cached post pages and kept list answers answered directly,
    the rest passed on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        match = None if scope["query_string"] else _POST_PAGE.fullmatch(path)
        if match is None and not _KEPT_ANSWERS.fullmatch(path):
            await self.app(scope, receive, send)
            return
        if_none_match = None
        for name, value in scope["headers"]:
            if name in _FULL_PATH_HEADERS:
                await self.app(scope, receive, send)
                return
            if name == b"if-none-match":
                if_none_match = value.decode("latin-1")
        if match is not None:
            post_id = int(match.group(1))
            answer = await self._post(scope, post_id, if_none_match) if post_id <= MAX_ID else None
        else:
            answer = await self._kept(scope, if_none_match)
        if answer is None:
            await self.app(scope, receive, send)
            return
        start, body = answer
        await send(start)
        await send(body)

    async def _post(
        self, scope: Scope, post_id: int, if_none_match: str | None
    ) -> tuple[Message, Message] | None:
        """The post page's two ASGI messages, or None to let the full app answer."""
        sb = scope["app"].state.stratabase
        try:
            page = await reads.get_post(sb.db, sb.cache, None, post_id)
            if not await _allowed(sb, scope):
                return None
        except Exception:  # the full app answers (and logs) it properly
            return None
        return _messages(page.json, etag_of(page.json), if_none_match)

    async def _kept(
        self, scope: Scope, if_none_match: str | None
    ) -> tuple[Message, Message] | None:
        """A kept list answer's two ASGI messages, or None (not kept: the route answers)."""
        sb = scope["app"].state.stratabase
        try:
            kept = await sb.cache.get(answer_key(scope["path"], scope["query_string"]))
            if kept is None or not await _allowed(sb, scope):
                return None
            etag, text = kept
        except Exception:  # the full app answers (and logs) it properly
            return None
        return _messages(text.encode(), etag, if_none_match)


async def _allowed(sb: Any, scope: Scope) -> bool:
    """The route's rate limit (scope ``read``, per client address), counted here."""
    limiter = sb.limiter
    if not limiter.limits.read:
        return True
    verdict = await limiter.hit("read", limit_key(client_ip(Request(scope))))
    return bool(verdict.allowed)


def _messages(body: bytes, etag: str, if_none_match: str | None) -> tuple[Message, Message]:
    """A 200 with ``body`` (or a 304 when ``If-None-Match`` names ``etag``), with the
    headers :func:`~stratabase.api.responses.json_answer` gives a public answer."""
    headers = [
        (b"etag", etag.encode()),
        (b"vary", b"Authorization"),
        (b"cache-control", PUBLIC_CACHE_CONTROL.encode()),
    ]
    if matches(if_none_match, etag):
        return (
            {"type": "http.response.start", "status": 304, "headers": headers},
            {"type": "http.response.body", "body": b""},
        )
    headers.append((b"content-type", b"application/json"))
    headers.append((b"content-length", str(len(body)).encode()))
    return (
        {"type": "http.response.start", "status": 200, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


__all__ = ["PostPageFastPath"]
