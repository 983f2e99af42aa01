"""The studio's own timeline: request timings per second over the last 15 minutes.

One pure ASGI hook (:class:`TimelineHook`, inside the post page's fast path, so the
fast path pays nothing) records each request's duration and status into a ring of 900
one-second slots; the same hook, once per second at most, samples the cheap in-memory
gauges (statements and slow statements from the query monitor, pool use, cache hits and
misses per namespace) through a callback. Nothing here does I/O. The figures are this
process's own: with several server processes, each keeps its timeline.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Seconds the ring keeps.
WINDOW_SECONDS = 900
#: Upper bounds (ms) of the latency buckets (log-spaced); the last bucket is above them.
LATENCY_BOUNDS_MS = (
    0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 50.0, 75.0, 100.0,
    150.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
)  # fmt: skip
#: Paths the timeline leaves out: the studio watching itself would skew the figures.
IGNORED_PREFIX = "/studio"

Gauges = dict[str, float]


@dataclass
class _Slot:
    second: int = -1
    count: int = 0
    errors: int = 0
    client_errors: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_MS) + 1))
    gauges: Gauges | None = None

    def reset(self, second: int) -> None:
        self.second = second
        self.count = self.errors = self.client_errors = 0
        self.histogram = [0] * (len(LATENCY_BOUNDS_MS) + 1)
        self.gauges = None


def percentile(histogram: list[int], fraction: float) -> float | None:
    """The upper bound (ms) of the bucket holding the ``fraction`` quantile; None if empty."""
    total = sum(histogram)
    if not total:
        return None
    rank = fraction * total
    seen = 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            if index < len(LATENCY_BOUNDS_MS):
                return LATENCY_BOUNDS_MS[index]
            return LATENCY_BOUNDS_MS[-1] * 2
    return LATENCY_BOUNDS_MS[-1] * 2


@dataclass(frozen=True)
class Bucket:
    """Several seconds of the timeline folded together (what a chart point shows)."""

    start: int
    seconds: int
    requests: int
    errors: int
    client_errors: int
    p50_ms: float | None
    p99_ms: float | None
    #: Gauges sampled in this bucket: the last sample of each.
    gauges: Gauges

    def as_dict(self) -> dict[str, Any]:
        """The JSON the overview charts read."""
        return {
            "t": self.start,
            "rate": round(self.requests / self.seconds, 3),
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": round(self.errors / self.requests, 4) if self.requests else 0.0,
            "client_errors": self.client_errors,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "gauges": self.gauges,
        }


class Timeline:
    """A ring of one-second slots: requests, 5xx, 4xx and a latency histogram each, plus
    the gauges sampled during that second."""

    def __init__(
        self,
        sampler: Callable[[], Gauges] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._slots = [_Slot() for _ in range(WINDOW_SECONDS)]
        self._sampler = sampler
        self._clock = clock
        self._sampled_second = -1

    def set_sampler(self, sampler: Callable[[], Gauges] | None) -> None:
        """Who gives the per-second gauges (the app's cache, monitor and pool)."""
        self._sampler = sampler

    def _slot(self, second: int) -> _Slot:
        slot = self._slots[second % WINDOW_SECONDS]
        if slot.second != second:
            slot.reset(second)
        return slot

    def record(self, duration_ms: float, status: int) -> None:
        """Count one finished request."""
        second = int(self._clock())
        slot = self._slot(second)
        slot.count += 1
        if status >= 500:
            slot.errors += 1
        elif status >= 400:
            slot.client_errors += 1
        slot.histogram[bisect.bisect_left(LATENCY_BOUNDS_MS, duration_ms)] += 1
        if second != self._sampled_second:
            self.sample(second)

    def sample(self, second: int | None = None) -> None:
        """Store the gauges for this second (at most once a second)."""
        if second is None:
            second = int(self._clock())
        self._sampled_second = second
        if self._sampler is None:
            return
        try:
            gauges = self._sampler()
        except Exception:  # a gauge must never fail a request
            return
        self._slot(second).gauges = gauges

    def add_gauges(self, gauges: Gauges) -> None:
        """Merge gauges read elsewhere (the overview's queue depth) into this second."""
        slot = self._slot(int(self._clock()))
        slot.gauges = {**(slot.gauges or {}), **gauges}

    def buckets(self, *, width: int = 10, window: int = WINDOW_SECONDS) -> list[Bucket]:
        """The last ``window`` seconds in buckets of ``width`` seconds, oldest first, the
        current (partial) bucket last."""
        now = int(self._clock())
        end = now - now % width + width  # exclusive end of the current bucket
        start = end - window
        out: list[Bucket] = []
        for bucket_start in range(start, end, width):
            requests = errors = client_errors = 0
            histogram = [0] * (len(LATENCY_BOUNDS_MS) + 1)
            gauges: Gauges = {}
            for second in range(bucket_start, min(bucket_start + width, now + 1)):
                slot = self._slots[second % WINDOW_SECONDS]
                if slot.second != second:
                    continue
                requests += slot.count
                errors += slot.errors
                client_errors += slot.client_errors
                for index, count in enumerate(slot.histogram):
                    histogram[index] += count
                if slot.gauges:
                    gauges.update(slot.gauges)
            seconds = max(1, min(width, now + 1 - bucket_start))
            out.append(
                Bucket(
                    start=bucket_start,
                    seconds=seconds,
                    requests=requests,
                    errors=errors,
                    client_errors=client_errors,
                    p50_ms=percentile(histogram, 0.50),
                    p99_ms=percentile(histogram, 0.99),
                    gauges=gauges,
                )
            )
        return out


class TimelineHook:
    """ASGI middleware: times every HTTP request (outside ``/studio``) into a timeline.

    Added with ``app.add_middleware``, so it runs inside the post page's fast path: answers
    the fast path gives are not in the timeline, and cost nothing more.
    """

    def __init__(self, app: ASGIApp, timeline: Timeline) -> None:
        self.app = app
        self.timeline = timeline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(IGNORED_PREFIX):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.timeline.record((time.perf_counter() - started) * 1000, status)


__all__ = ["LATENCY_BOUNDS_MS", "WINDOW_SECONDS", "Bucket", "Timeline", "TimelineHook"]
