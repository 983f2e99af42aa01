"""The crawl task against a local HTTP server: good page, slow page, huge page, redirect
loop, non-HTML, private addresses refused; the preview lands in the post's metadata."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from stratabase.db.session import Database
from stratabase.enums import PostKind
from stratabase.jobs.errors import PermanentJobError
from stratabase.jobs.queue import ClaimedJob
from stratabase.jobs.registry import TaskContext
from stratabase.jobs.tasks.crawl import (
    RESOURCE,
    BlockedAddress,
    CrawlLimits,
    crawl,
    crawl_jobs,
    extract_preview,
    fetch_preview,
)
from stratabase.models.accounts import User
from stratabase.models.content import Post
from stratabase.settings import Settings

GOOD = b"""<!doctype html><html><head>
<title>  A good   page </title>
<meta name="description" content="What it is about">
<meta property="og:image" content="/img/cover.png">
<link rel="canonical" href="https://example.org/good">
</head><body>hello</body></html>"""
#: Generous: a fetch from the local test server must not time out on a busy machine (the
#: timeout itself is tested with its own short limit, against /slow).
LIMITS = CrawlLimits(timeout=15.0, max_bytes=100_000, max_redirects=3)


class _Pages(BaseHTTPRequestHandler):
    def log_message(self, *_args: Any) -> None:
        return None

    def _send(self, body: bytes, content_type: str = "text/html; charset=utf-8") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/good":
            self._send(GOOD)
        elif self.path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/good")
            self.end_headers()
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        elif self.path == "/slow":
            time.sleep(3)
            self._send(GOOD)
        elif self.path == "/huge":
            # No Content-Length: the size limit must hold while streaming.
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            for _ in range(300):
                self.wfile.write(b"<p>" + b"x" * 1000 + b"</p>")
        elif self.path == "/json":
            self._send(b'{"a": 1}', "application/json")
        else:
            self.send_response(404)
            self.end_headers()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_good_page_and_redirect_give_a_preview(server: str) -> None:
    preview = await fetch_preview(f"{server}/moved", limits=LIMITS, allow_private=True)
    assert preview["final_url"] == f"{server}/good"
    assert preview["title"] == "A good page"
    assert preview["description"] == "What it is about"
    assert preview["image"] == f"{server}/img/cover.png"
    assert preview["canonical_url"] == "https://example.org/good"


async def test_slow_page_times_out(server: str) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await fetch_preview(f"{server}/slow", limits=CrawlLimits(timeout=0.3), allow_private=True)
    assert time.monotonic() - started < 2


async def test_huge_page_is_cut_off(server: str) -> None:
    with pytest.raises(PermanentJobError, match="larger than"):
        await fetch_preview(f"{server}/huge", limits=LIMITS, allow_private=True)


async def test_redirect_loop_stops(server: str) -> None:
    with pytest.raises(PermanentJobError, match="more than 3 redirects"):
        await fetch_preview(f"{server}/loop", limits=LIMITS, allow_private=True)


async def test_non_html_and_bad_schemes_are_refused(server: str) -> None:
    with pytest.raises(PermanentJobError, match="not an HTML page"):
        await fetch_preview(f"{server}/json", limits=LIMITS, allow_private=True)
    with pytest.raises(PermanentJobError, match="page answered 404"):
        await fetch_preview(f"{server}/missing", limits=LIMITS, allow_private=True)
    for url in ("ftp://example.org/x", "file:///etc/passwd", "http:///nohost"):
        with pytest.raises(PermanentJobError):
            await fetch_preview(url, limits=LIMITS)


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "10.1.2.3", "192.168.0.10", "169.254.169.254", "[::1]", "0.0.0.0"],
)
async def test_private_loopback_and_link_local_addresses_are_refused(
    server: str, host: str
) -> None:
    port = server.rsplit(":", 1)[1]
    with pytest.raises(BlockedAddress, match="non-public address"):
        await fetch_preview(f"http://{host}:{port}/good", limits=LIMITS, allow_private=False)


def test_extract_preview_prefers_open_graph() -> None:
    html = (
        '<title>Plain</title><meta property="og:title" content="OG title">'
        '<meta property="og:description" content="OG text"><meta property="og:url" content="/c">'
    )
    preview = extract_preview(html, "https://site.test/a/b")
    assert preview == {
        "title": "OG title",
        "description": "OG text",
        "image": None,
        "canonical_url": "https://site.test/c",
    }


def test_crawl_jobs_find_urls_once_per_post() -> None:
    blocks = [
        {"type": "paragraph", "text": "see https://a.test/x and http://b.test/y."},
        {"type": "embed", "url": "https://a.test/x"},
        {"type": "image", "src": "ftp://nope"},
    ]
    jobs = crawl_jobs(7, blocks)
    assert [job.payload["url"] for job in jobs] == ["https://a.test/x", "http://b.test/y."]
    assert len({job.unique_key for job in jobs}) == 2


async def test_crawl_task_stores_the_preview_on_the_post(
    db: Database, settings: Settings, server: str
) -> None:
    async def make(session: Any) -> int:
        user = User(email="crawler@example.org", username="crawler")
        session.add(user)
        await session.flush()
        post = Post(author_id=user.id, kind=PostKind.NOTE, title="t", slug="t", meta={"keep": True})
        session.add(post)
        await session.flush()
        return post.id

    post_id = await db.transaction(make)
    allowed = settings.model_copy(update={"crawl_allow_private": True})
    job = ClaimedJob(1, "crawl", "crawl", {}, 1, 3)
    context = TaskContext(db, allowed, job, {RESOURCE: LIMITS})
    url = f"{server}/good"
    result = await crawl(context, {"post_id": post_id, "url": url})
    assert result is not None and result["stored"] is True
    async with db.session() as session:
        post = await session.get(Post, post_id)
    assert post is not None and post.meta["keep"] is True
    stored = post.meta["link_previews"][url]
    assert stored["title"] == "A good page" and "fetched_at" in stored

    refused = TaskContext(db, settings, job, {RESOURCE: LIMITS})
    with pytest.raises(BlockedAddress):
        await crawl(refused, {"post_id": post_id, "url": url})
    with pytest.raises(PermanentJobError, match="post_id and url"):
        await crawl(refused, {"url": url})
