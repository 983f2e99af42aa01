"""Warming: load the hot keys before traffic does (at ``up``, after ``clean``).

The lead wires it: build a list of :class:`WarmSpec` (post pages of the front page,
platform stats, …) and ``await cache.warm(specs)``. Failures are logged, never raised: a
cold key is only slower.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger("stratabase.cache")


class _Loads(Protocol):
    async def get_or_load(
        self,
        key: str,
        loader: Callable[[], Awaitable[Any] | Any],
        *,
        ttl: float | None = None,
        tags: Sequence[str] = (),
    ) -> Any: ...


@dataclass(frozen=True)
class WarmSpec:
    """A hot key and how to load it."""

    key: str
    loader: Callable[[], Awaitable[Any] | Any]
    tags: Sequence[str] = ()
    ttl: float | None = None


async def warm(cache: _Loads, specs: Iterable[WarmSpec], *, concurrency: int = 8) -> int:
    """Load every spec through ``get_or_load`` (bounded concurrency); count the successes."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(spec: WarmSpec) -> bool:
        async with semaphore:
            try:
                await cache.get_or_load(spec.key, spec.loader, ttl=spec.ttl, tags=spec.tags)
            except Exception:
                logger.warning("warming %s failed", spec.key, exc_info=True)
                return False
            return True

    return sum(await asyncio.gather(*(one(spec) for spec in specs)))
