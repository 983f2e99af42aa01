"""Cursor signing, the sliding-window limiter on memory and on Redis, and query parsing."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from stratabase.exceptions import InvalidInput
from stratabase.pagination import CursorCodec
from stratabase.ratelimit import RateLimiter, RateLimits
from stratabase.search.text import parse_query, snippet
from stratabase.settings import load_settings


def test_cursor_round_trip_and_refusals() -> None:
    codec = CursorCodec("secret")
    moment = datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    cursor = codec.encode("posts", [moment, 42])
    assert codec.decode("posts", cursor, 2) == [moment, 42]
    with pytest.raises(InvalidInput) as wrong_list:
        codec.decode("comments", cursor, 2)
    assert wrong_list.value.field == "cursor"
    with pytest.raises(InvalidInput):
        CursorCodec("other secret").decode("posts", cursor, 2)
    with pytest.raises(InvalidInput):
        codec.decode("posts", cursor, 3)
    payload, signature = cursor.split(".")
    for bad in ("", ".", "x" * 5000, payload + "." + signature[::-1], "!!!." + signature):
        with pytest.raises(InvalidInput):
            codec.decode("posts", bad, 2)


def test_query_parser_understands_websearch_syntax() -> None:
    parsed = parse_query('Café "skip locked" -mysql a OR b OR c "" -')
    assert parsed.groups == [[["cafe"]], [["skip", "locked"]], [["a"], ["b"], ["c"]]]
    assert parsed.excluded == [["mysql"]]
    assert parse_query('- "" OR').empty


def test_snippet_escapes_and_marks() -> None:
    text = "<i>x</i> " + "filler " * 40 + "the Postgres planner"
    out = snippet(text, parse_query("postgres"))
    assert "<mark>Postgres</mark>" in out and out.startswith("…") and "<i>" not in out
    assert "&lt;i&gt;" in snippet("<i>postgres</i>", parse_query("postgres"))


async def test_memory_limiter_is_a_sliding_window_per_identity() -> None:
    limiter = RateLimiter(load_settings(redis_url=""), RateLimits(read="3/second"))
    first_hit = time.monotonic()
    verdicts = [await limiter.hit("read", "user:1") for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert verdicts[-1].retry_after >= 1
    assert (await limiter.hit("read", "user:2")).allowed
    deadline = first_hit + 30  # refused hits are not counted: poll until the window slides
    while not (await limiter.hit("read", "user:1")).allowed:
        assert time.monotonic() < deadline, "the window never slid"
        await asyncio.sleep(0.05)
    assert time.monotonic() - first_hit >= 1.0  # and not before the oldest hit left it


async def test_redis_limiter_is_shared_between_processes(redis_url: str, redis_prefix: str) -> None:
    settings = load_settings(redis_url=redis_url, redis_prefix=redis_prefix)
    first = RateLimiter(settings, RateLimits(auth="5/minute"))
    second = RateLimiter(settings, RateLimits(auth="5/minute"))
    results = await asyncio.gather(
        *(limiter.hit("auth", "ip:10.0.0.1") for limiter in [first, second] * 4)
    )
    assert sorted(v.allowed for v in results) == [False] * 3 + [True] * 5
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=redis_prefix + "*")]
    finally:
        await client.aclose()
    assert keys, "the windows live under the configured prefix"
