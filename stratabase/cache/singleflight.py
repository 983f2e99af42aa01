"""In-process single-flight: concurrent callers of one key share one load.

The load runs in its own task, so a caller that is cancelled does not cancel it for the
others. Every caller gets the *same bytes* and decodes its own copy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """One in-flight call per key: concurrent callers share its result."""

    def __init__(self) -> None:
        self._inflight: dict[str, asyncio.Task[T]] = {}

    def __len__(self) -> int:
        return len(self._inflight)

    def running(self, key: str) -> bool:
        """True while a call for ``key`` is in flight."""
        return key in self._inflight

    async def do(self, key: str, work: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """Run ``work`` once for all concurrent callers; returns (result, shared)."""
        task = self._inflight.get(key)
        shared = task is not None
        if task is None:
            task = asyncio.ensure_future(work())
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(task), shared

    def start(self, key: str, work: Callable[[], Awaitable[T]]) -> asyncio.Task[T] | None:
        """Start ``work`` in the background unless a flight for ``key`` is already running."""
        if key in self._inflight:
            return None
        task = asyncio.ensure_future(work())
        self._inflight[key] = task
        task.add_done_callback(lambda done: self._forget(key, done))
        return task

    def _forget(self, key: str, task: asyncio.Task[T]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved here; callers that awaited it got it already

    async def cancel_all(self) -> None:
        """Cancel every call in flight and wait for them to end."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
