"""Two processes, one Redis: a write in one drops the other's local copy."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator

import pytest

from stratabase.cache import SmartCache, two_tier_cache
from stratabase.cache.two_tier import TwoTierStore

CHILD = r"""
import asyncio, json, sys
from stratabase.cache import two_tier_cache

async def main(url, prefix):
    cache = two_tier_cache(url, prefix)
    await cache.store.wait_subscribed()
    print(json.dumps({"ready": True}), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).split()
        if not line or line[0] == "quit":
            break
        value = await cache.get(line[1])
        local = sum(t.get("local", {}).get("hits", 0) for t in cache.metrics.snapshot().values())
        print(json.dumps({"value": value, "local_hits": local}), flush=True)
    await cache.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


#: Invalidation must reach the other process by message, far sooner than the 60 s local
#: TTL would expire its copy; a busy machine may take seconds, never a third of that.
PROPAGATION_BOUND = 20.0


class Child:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def ask(self, line: str) -> dict[str, object]:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write((line + "\n").encode())
        await self.process.stdin.drain()
        raw = await asyncio.wait_for(self.process.stdout.readline(), 60)
        return dict(json.loads(raw))


@pytest.fixture
async def child(redis_url: str, redis_prefix: str) -> AsyncIterator[Child]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        redis_url,
        redis_prefix,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout
    ready = await asyncio.wait_for(process.stdout.readline(), 60)
    assert json.loads(ready) == {"ready": True}
    try:
        yield Child(process)
    finally:
        if process.returncode is None:
            assert process.stdin
            process.stdin.write(b"quit\n")
            await process.stdin.drain()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


@pytest.fixture
async def cache(redis_url: str, redis_prefix: str) -> AsyncIterator[SmartCache]:
    made = two_tier_cache(redis_url, redis_prefix)
    assert isinstance(made.store, TwoTierStore)
    await made.store.wait_subscribed()
    yield made
    await made.close()


async def _until(
    child: Child, key: str, expected: object, within: float = PROPAGATION_BOUND
) -> float:
    """Seconds until the child sees ``expected`` (fails after ``within``)."""
    started = time.monotonic()
    while True:
        answer = await child.ask(f"get {key}")
        if answer["value"] == expected:
            return time.monotonic() - started
        assert time.monotonic() - started < within, f"child still sees {answer['value']!r}"
        await asyncio.sleep(0.01)


async def test_write_and_tag_invalidation_reach_the_other_process(
    cache: SmartCache, child: Child
) -> None:
    await cache.set("post:1", "v1", tags=["user:1"])
    deadline = time.monotonic() + 30
    while True:  # Redis hit copied locally (once the set's own message has passed), then local
        answer = await child.ask("get post:1")
        assert answer["value"] == "v1"
        if int(str(answer["local_hits"])) >= 1:
            break
        assert time.monotonic() < deadline, "the child never served from its local tier"
        await asyncio.sleep(0.01)

    await cache.set("post:1", "v2", tags=["user:1"])
    assert await _until(child, "post:1", "v2") < PROPAGATION_BOUND  # not the local TTL
    await child.ask("get post:1")  # local copy of v2 again

    await cache.invalidate_tags(["user:1"])
    assert await _until(child, "post:1", None) < PROPAGATION_BOUND

    await cache.set("post:2", "kept")
    assert (await child.ask("get post:2"))["value"] == "kept"
    await cache.delete("post:2")
    assert await _until(child, "post:2", None) < PROPAGATION_BOUND
    await cache.set("post:3", "ns")
    assert (await child.ask("get post:3"))["value"] == "ns"
    await cache.clear("post")
    assert await _until(child, "post:3", None) < PROPAGATION_BOUND
