"""Link previews reach readers: publishing a post with links enqueues crawls (one per post
and URL), a real worker runs them against a local HTTP server, and the next reads of the
cached post page, category feed and search page show the preview — on both backends,
with the in-process and the two-tier cache, and with a worker that holds no cache at all
(an embedded worker run as its own process: the cache generation tells the server)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import func, select

from stratabase.cache import Cache, SmartCache, memory_cache
from stratabase.db.session import Database
from stratabase.jobs.registry import Registry
from stratabase.jobs.resources import default_resources
from stratabase.jobs.tasks import crawl
from stratabase.jobs.worker import Worker, WorkerConfig
from stratabase.models.jobs import Job
from stratabase.settings import Settings
from tests.acceptance.api_support import Api
from tests.integration.cache_wiring_support import serve
from tests.integration.test_jobs_crawl import LIMITS
from tests.integration.test_jobs_crawl import server as _server_fixture

server = _server_fixture  # the local HTTP server of the crawl tests
DEADLINE = 20.0
FAST = WorkerConfig(
    concurrency=2, lease_seconds=30, poll_interval=0.05, flush_interval=0.01, run_periodic=False
)


@asynccontextmanager
async def running_worker(
    db: Database, settings: Settings, cache: Cache | None
) -> AsyncIterator[Worker]:
    registry = Registry()
    crawl.register(registry)
    resources = default_resources(db, cache=cache, **{crawl.RESOURCE: LIMITS})
    worker = Worker(db, settings, registry, FAST, resources=resources)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await worker.ready.wait()
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def _crawl_jobs(db: Database, post_id: int) -> int:
    async with db.session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.task == "crawl", Job.payload["post_id"].as_integer() == post_id)
        )
    return int(count or 0)


async def _until(check: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await check():
        assert time.monotonic() < deadline, f"never saw {what}"
        await asyncio.sleep(0.05)


async def test_a_published_link_is_crawled_and_its_preview_reaches_cached_reads(
    wired: tuple[Settings, SmartCache], db: Database, server: str
) -> None:
    settings, cache = wired
    allowed = settings.model_copy(update={"crawl_allow_private": True})
    async with serve(settings, db, cache) as api:
        await _scenario(api, db, allowed, cache, f"{server}/good")


async def test_an_embedded_worker_process_without_the_cache_still_reaches_the_server(
    settings: Settings, db: Database, server: str
) -> None:
    """``stratabase worker`` run next to an embedded ``serve`` holds no cache of the server:
    the task bumps the cache generation with its write, and the server flushes."""
    assert settings.embedded
    cache = memory_cache()
    allowed = settings.model_copy(update={"crawl_allow_private": True})
    try:
        async with serve(settings, db, cache) as api:
            await _scenario(api, db, allowed, None, f"{server}/good")
    finally:
        await cache.close()


async def _scenario(
    api: Api, db: Database, settings: Settings, worker_cache: Cache | None, url: str
) -> None:
    author = await api.user()
    category = await api.category()
    blocks = [{"type": "paragraph", "text": f"Read {url} first"}, {"type": "embed", "url": url}]
    draft = await api.post(author, status="draft", content_blocks=blocks, category_id=category)
    assert await _crawl_jobs(db, draft["id"]) == 0  # drafts are not crawled

    post = await api.post(author, title="Links inside", content_blocks=blocks, category_id=category)
    page = f"/v1/posts/{post['id']}"
    feed = f"/v1/feed/categories/{category}"
    search = "/v1/search?q=Links"
    for path in (page, feed, search):  # cached without a preview
        for _ in range(2):
            assert (await api.http.get(path)).status_code == 200
    assert "link_previews" not in (await api.http.get(page)).json()["metadata"]
    assert await _crawl_jobs(db, post["id"]) == 1  # one URL, twice in the post: one job
    # Editing the queued post does not queue the same URL again (unique per post and URL).
    edited = await api.http.patch(page, json={"summary": "edited"}, headers=author.headers)
    assert edited.status_code == 200, edited.text
    assert await _crawl_jobs(db, post["id"]) == 1
    for path in (page, feed, search):  # cached again after the edit, still without a preview
        for _ in range(2):
            assert (await api.http.get(path)).status_code == 200

    def previewed(body: dict[str, Any]) -> bool:
        preview = (body.get("metadata") or {}).get("link_previews", {}).get(url)
        return preview is not None and preview["title"] == "A good page"

    async with running_worker(db, settings, worker_cache):

        async def on_page() -> bool:
            return previewed((await api.http.get(page)).json())

        await _until(on_page, "the preview on the post page")

        async def in_lists() -> bool:
            feed_items = (await api.http.get(feed)).json()["items"]
            found = (await api.http.get(search)).json()["items"]
            bodies = [i for i in feed_items if i["id"] == post["id"]]
            bodies += [i["post"] for i in found if i["id"] == post["id"]]
            return len(bodies) == 2 and all(previewed(body) for body in bodies)

        await _until(in_lists, "the preview in the category feed and search")

    # A later edit of the published post does not crawl a link that has its preview.
    edited = await api.http.patch(page, json={"summary": "again"}, headers=author.headers)
    assert edited.status_code == 200, edited.text
    assert await _crawl_jobs(db, post["id"]) == 1


async def test_an_episode_generated_without_the_servers_cache_reaches_it(
    settings: Settings, db: Database
) -> None:
    """The same miss in ``episode.generate``: run by a worker without the server's cache, the
    new episode used to stay out of the cached profile for an hour."""
    from stratabase.jobs.tasks import episodes
    from tests.integration.test_jobs_publishing import _context, _world

    ids = await _world(db)
    cache = memory_cache()
    try:
        async with serve(settings, db, cache) as api:
            profile = f"/v1/users/{ids['user']}"

            async def posts() -> int:
                response = await api.http.get(profile)
                assert response.status_code == 200, response.text
                return int(response.json()["stats"]["posts"])

            assert await posts() == await posts() == 0  # cached
            payload = {"project_id": ids["project"], "scheduled_for": "2026-03-08T07:30:00+00:00"}
            result = await episodes.generate(_context(db, settings), payload)
            assert result is not None and result["post_id"]

            async def counted() -> bool:
                return await posts() == 1

            await _until(counted, "the episode in the author's cached profile")
    finally:
        await cache.close()
