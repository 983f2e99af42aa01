"""``crawl``: fetch a URL found in a post and store its link preview on the post.

The fetch is defensive because the URL comes from a user: http/https only; every address
the host resolves to is checked *at connect time* (so DNS rebinding cannot slip a private
address in after the check) and private, loopback, link-local, multicast and reserved
addresses are refused unless ``STRATABASE_CRAWL_ALLOW_PRIVATE`` is set; redirects are
followed by hand (each hop re-checked, at most ``max_redirects``); the whole fetch has a
deadline; the body must be HTML and is read up to ``max_bytes``. The preview (title,
description, og:image, canonical URL) goes to ``posts.metadata["link_previews"][url]``.

Publishing a post, or editing a published one, enqueues one job per link that has no
preview yet (:func:`enqueue_crawls`, in the writer's transaction; unique per post and URL
while queued or running). Storing a preview invalidates, after commit, every cached read
that shows the post's metadata: its page, its author's feeds, search and its category.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import re
import socket
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, TypedDict
from urllib.parse import urljoin, urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.cache import Cache
from stratabase.cache.consistency import stale_after_commit
from stratabase.cache.keys import TAG_SEARCH, tag_category, tag_post, tag_user
from stratabase.db.types import utcnow
from stratabase.enums import PostStatus
from stratabase.jobs.errors import PermanentJobError
from stratabase.jobs.registry import Registry, RetryPolicy, TaskContext, TaskResult, TaskSpec
from stratabase.jobs.service import enqueue_in
from stratabase.models.content import Post
from stratabase.schemas.jobs import JobCreate

RESOURCE = "crawl_limits"
#: The process's cache (the resource episodes use too); without one, the task bumps the
#: cache generation instead, so an embedded server still sees the preview.
CACHE = "cache"
HTML_TYPES = ("text/html", "application/xhtml+xml")
USER_AGENT = "StratabaseCrawler/1.0 (+link previews)"
_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
_TEXT_LIMIT = 500


@dataclass(frozen=True)
class CrawlLimits:
    """Bounds of one fetch: time, bytes and redirects."""

    #: Deadline for the whole fetch, redirects included.
    timeout: float = 10.0
    max_bytes: int = 1_000_000
    max_redirects: int = 5


class BlockedAddress(PermanentJobError):
    """The URL points at an address the crawler may not fetch."""


def _refused(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


class _GuardedBackend:
    """Wraps httpcore's network backend: resolve, refuse forbidden addresses, connect by IP."""

    def __init__(self, inner: Any, allow_private: bool) -> None:
        self._inner = inner
        self._allow_private = allow_private

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = [str(info[4][0]) for info in infos]
        if not self._allow_private:
            blocked = [a for a in addresses if _refused(a)]
            if blocked:
                raise BlockedAddress(f"{host} resolves to a non-public address ({blocked[0]})")
        return await self._inner.connect_tcp(addresses[0], port, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def guarded_transport(allow_private: bool) -> httpx.AsyncHTTPTransport:
    """An HTTP transport that refuses private addresses (SSRF) unless allowed."""
    transport = httpx.AsyncHTTPTransport(trust_env=False, retries=0)
    pool = transport._pool  # httpx keeps its httpcore pool here; the hook is its backend
    guarded = _GuardedBackend(pool._network_backend, allow_private)
    pool._network_backend = guarded  # type: ignore[assignment]
    return transport


class _PreviewParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.canonical: str | None = None
        self.title_parts: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag == "title":
            self._in_title = True
        elif tag == "meta":
            key = (values.get("property") or values.get("name") or "").lower()
            if key and "content" in values:
                self.meta.setdefault(key, values["content"].strip())
        elif tag == "link" and "canonical" in values.get("rel", "").lower().split():
            self.canonical = self.canonical or values.get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)


def _clip(value: str | None) -> str | None:
    if not value:
        return None
    value = " ".join(value.split())
    return value[:_TEXT_LIMIT] or None


class PagePreview(TypedDict):
    """What a page says about itself (Open Graph first, then HTML). A ``TypedDict``: it is
    stored as it is in the post's JSON metadata and in the job's JSON result."""

    title: str | None
    description: str | None
    #: Absolute URL.
    image: str | None
    #: Absolute URL.
    canonical_url: str | None


class LinkPreview(PagePreview):
    """A page's preview with the URL asked for and the one answered (after redirects)."""

    url: str
    final_url: str


def extract_preview(html: str, base_url: str) -> PagePreview:
    """Title, description, image and canonical URL of an HTML page (relative URLs resolved)."""
    parser = _PreviewParser()
    parser.feed(html)
    parser.close()
    meta = parser.meta
    image = meta.get("og:image") or meta.get("twitter:image")
    canonical = parser.canonical or meta.get("og:url")
    return {
        "title": _clip(meta.get("og:title") or "".join(parser.title_parts)),
        "description": _clip(meta.get("og:description") or meta.get("description")),
        "image": urljoin(base_url, image) if image else None,
        "canonical_url": urljoin(base_url, canonical) if canonical else None,
    }


def check_url(url: str) -> str:
    """The URL if it may be crawled (http/https, a host); else PermanentJobError."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise PermanentJobError(f"only http and https URLs are crawled, not {parts.scheme!r}")
    if not parts.hostname:
        raise PermanentJobError(f"URL has no host: {url!r}")
    return url


async def fetch_preview(
    url: str,
    *,
    limits: CrawlLimits = CrawlLimits(),
    allow_private: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LinkPreview:
    """Fetch ``url`` within ``limits`` and return its preview; raise on any refusal."""
    current = check_url(url)
    client = httpx.AsyncClient(
        transport=transport or guarded_transport(allow_private),
        follow_redirects=False,
        timeout=httpx.Timeout(limits.timeout),
        headers={"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml"},
    )
    async with client, asyncio.timeout(limits.timeout):
        for _hop in range(limits.max_redirects + 1):
            async with client.stream("GET", current) as response:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    current = check_url(urljoin(current, location))
                    continue
                body = await _read_html(response, limits)
                preview = extract_preview(body, str(response.url))
                return {"url": url, "final_url": str(response.url), **preview}
        raise PermanentJobError(f"more than {limits.max_redirects} redirects from {url}")
    raise AssertionError("unreachable")  # pragma: no cover


async def _read_html(response: httpx.Response, limits: CrawlLimits) -> str:
    if response.status_code >= 500:
        raise httpx.HTTPStatusError(
            f"server error {response.status_code}", request=response.request, response=response
        )
    if response.status_code >= 400:
        raise PermanentJobError(f"page answered {response.status_code}")
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in HTML_TYPES:
        raise PermanentJobError(f"not an HTML page (content-type {content_type or 'missing'})")
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_bytes:
        raise PermanentJobError(f"page is larger than {limits.max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limits.max_bytes:
            raise PermanentJobError(f"page is larger than {limits.max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks).decode(response.encoding or "utf-8", errors="replace")


async def store_preview(session: AsyncSession, post_id: int, preview: LinkPreview) -> bool:
    """Put the preview under ``link_previews[url]`` in the post's metadata (row locked)."""
    post = (
        await session.execute(select(Post).where(Post.id == post_id).with_for_update())
    ).scalar_one_or_none()
    if post is None:
        return False
    meta = dict(post.meta or {})
    previews = dict(meta.get("link_previews") or {})
    previews[preview["url"]] = {**preview, "fetched_at": utcnow().isoformat()}
    meta["link_previews"] = previews
    post.meta = meta
    return True


async def crawl(ctx: TaskContext, payload: dict[str, Any]) -> TaskResult:
    """Task ``crawl``: fetch a post's link and store its preview."""
    try:
        post_id = int(payload["post_id"])
        url = str(payload["url"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentJobError("crawl needs post_id and url") from exc
    limits: CrawlLimits = ctx.resources.get(RESOURCE) or CrawlLimits()
    preview = await fetch_preview(
        url, limits=limits, allow_private=ctx.settings.crawl_allow_private
    )
    cache: Cache | None = ctx.resources.get(CACHE)

    async def work(session: AsyncSession) -> bool:
        if not await store_preview(session, post_id, preview):
            return False
        post = await session.get(Post, post_id)  # locked and loaded by store_preview
        assert post is not None
        await stale_after_commit(session, cache, post_tags(post))
        return True

    stored = await ctx.db.transaction(work)
    return {"stored": stored, **preview}


def post_tags(post: Post) -> list[str]:
    """The cached reads that show a post's body and metadata: its page, its author's
    profile and followers' home feeds, search pages and its category feed."""
    tags = [tag_post(post.id), tag_user(post.author_id), TAG_SEARCH]
    if post.category_id is not None:
        tags.append(tag_category(post.category_id))
    return tags


def urls_in_blocks(blocks: list[Any]) -> list[str]:
    """http(s) URLs in a post's content blocks (``url``/``href``/``src`` fields and text)."""
    found: list[str] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        for key, value in block.items():
            if not isinstance(value, str):
                continue
            if key in ("url", "href", "src") and value.lower().startswith(("http://", "https://")):
                found.append(value)
            else:
                found.extend(_URL_IN_TEXT.findall(value))
    return list(dict.fromkeys(found))


def crawl_jobs(post_id: int, blocks: list[Any]) -> list[JobCreate]:
    """One crawl job per URL in the post, deduplicated while queued or running."""
    return [
        JobCreate(
            queue="crawl",
            task="crawl",
            payload={"post_id": post_id, "url": url},
            max_attempts=3,
            unique_key=f"crawl:{post_id}:{hashlib.sha256(url.encode()).hexdigest()[:32]}",
        )
        for url in urls_in_blocks(blocks)
    ]


async def enqueue_crawls(session: AsyncSession, post: Post) -> int:
    """Crawl the links of a published post that have no preview yet, in the writer's
    transaction (the jobs exist iff it commits); returns how many jobs were new."""
    if post.status != PostStatus.PUBLISHED:
        return 0
    known = (post.meta or {}).get("link_previews") or {}
    jobs = crawl_jobs(post.id, post.content_blocks or [])
    specs = [job for job in jobs if job.payload["url"] not in known]
    if not specs:
        return 0
    return len(await enqueue_in(session, specs))


def register(registry: Registry, *, periodic: bool = True) -> None:
    """Add the crawl tasks (and their schedule) to ``registry``."""
    registry.add(
        TaskSpec(
            "crawl",
            crawl,
            queue="crawl",
            max_attempts=3,
            retry=RetryPolicy(base_seconds=30, cap_seconds=3600),
            timeout=120,
        )
    )
