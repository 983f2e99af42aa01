"""The studio's in-process parts: the timeline ring, its hook, the slow-statement log."""

from __future__ import annotations

import logging

import httpx
from starlette.types import Receive, Scope, Send

from stratabase.db.monitor import logger as queries_logger
from stratabase.studio.slowlog import RECENT, SHAPES, SlowLog
from stratabase.studio.timeline import WINDOW_SECONDS, Timeline, TimelineHook, percentile


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_timeline_folds_seconds_into_buckets_and_forgets_after_15_minutes() -> None:
    clock = Clock()
    samples = iter(range(1000))
    timeline = Timeline(lambda: {"n": float(next(samples))}, clock=clock)
    for ms in (1.0, 2.0, 3.0, 400.0):
        timeline.record(ms, 200)
    timeline.record(5.0, 503)
    timeline.record(5.0, 404)
    buckets = timeline.buckets(width=10)
    assert len(buckets) == WINDOW_SECONDS // 10
    last = buckets[-1]
    assert (last.requests, last.errors, last.client_errors) == (6, 1, 1)
    assert last.p50_ms == 3.0 and last.p99_ms == 500.0
    assert last.gauges == {"n": 0.0}  # sampled once in that second
    clock.now += 1
    timeline.record(1.0, 200)
    assert timeline.buckets(width=10)[-1].gauges == {"n": 1.0}
    clock.now += WINDOW_SECONDS
    assert sum(b.requests for b in timeline.buckets(width=10)) == 0
    assert percentile([0, 0], 0.99) is None


def test_a_failing_sampler_never_fails_a_request() -> None:
    def broken() -> dict[str, float]:
        raise RuntimeError("gauge down")

    timeline = Timeline(broken)
    timeline.record(1.0, 200)
    assert timeline.buckets()[-1].requests == 1


async def test_the_hook_times_requests_but_not_the_studio() -> None:
    timeline = Timeline()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/boom":
            raise RuntimeError("boom")
        status = 200 if scope["path"] != "/missing" else 404
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    transport = httpx.ASGITransport(app=TimelineHook(app, timeline), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        await http.get("/v1/posts")
        await http.get("/missing")
        await http.get("/boom")
        await http.get("/studio/api/overview")
    bucket = timeline.buckets()[-1]
    assert (bucket.requests, bucket.client_errors, bucket.errors) == (3, 1, 1)


def test_the_slow_log_is_bounded_and_keeps_no_parameters() -> None:
    slow = SlowLog()
    queries_logger.addHandler(slow)
    try:
        queries_logger.warning(
            "slow query %.1f ms: %s", 150.0, "SELECT * FROM t WHERE a = 'secret'"
        )
        queries_logger.warning(
            "slow query %.1f ms: %s params=%r", 120.0, "SELECT 1 WHERE b = $1", ("pw",)
        )
        queries_logger.info("slow query %.1f ms: %s", 60.0, "SELECT warn_only")
    finally:
        queries_logger.removeHandler(slow)
    assert [r["sql"] for r in slow.recent] == [
        "SELECT * FROM t WHERE a = ?",
        "SELECT ? WHERE b = ?",
    ]
    assert slow.level == logging.WARNING
    for n in range(SHAPES + RECENT + 10):
        slow.observe(f"SELECT {n} FROM shape_{n}", 100.0 + n)
    assert len(slow.recent) == RECENT and len(slow.shapes) == SHAPES
    top = slow.top(3)
    assert top[0]["max_ms"] >= top[1]["max_ms"] >= top[2]["max_ms"]


def test_the_browser_masks_secrets_whatever_the_table() -> None:
    from stratabase.secret_key import STATE_KEY
    from stratabase.studio.browser import MASK, render_row, table_of

    users = render_row(table_of("users"), {"id": 1, "password_hash": "$argon2id$…"})
    assert users["password_hash"] == MASK and users["id"] == 1
    sessions = render_row(table_of("sessions"), {"id": 2, "token_hash": "ab" * 32})
    assert sessions["token_hash"] == MASK
    state = render_row(table_of("system_state"), {"key": STATE_KEY, "value": {"key": "s3cret"}})
    assert state["value"] == MASK and "s3cret" not in str(state)
    theme = render_row(table_of("system_state"), {"key": "seed", "value": {"theme": "tech"}})
    assert theme["value"] == {"theme": "tech"}
