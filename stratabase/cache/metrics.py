"""Counters per namespace and tier: hits, misses, stale served, errors, lock waits, latency.

Plain integer increments on the hot path (no locks: one event loop per process). The
snapshot is what ``stratabase cache stats`` and the health report show.
"""

from __future__ import annotations

from typing import Any


class Counters:
    """One (namespace, tier) bucket."""

    __slots__ = (
        "errors",
        "fills",
        "hits",
        "latency_count",
        "latency_max",
        "latency_total",
        "loads",
        "lock_waits",
        "misses",
        "refreshes",
        "refused_fills",
        "stale",
        "writes",
    )

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        #: Stale values served (while revalidating, or because the reload failed).
        self.stale = 0
        self.errors = 0
        self.lock_waits = 0
        self.loads = 0
        self.fills = 0
        #: Fills refused because a write happened while the loader ran.
        self.refused_fills = 0
        #: Background refreshes started (stale-while-revalidate or early refresh).
        self.refreshes = 0
        self.writes = 0
        self.latency_total = 0.0
        self.latency_count = 0
        self.latency_max = 0.0

    def observe(self, seconds: float) -> None:
        """Count one lookup's latency."""
        self.latency_total += seconds
        self.latency_count += 1
        if seconds > self.latency_max:
            self.latency_max = seconds

    def as_dict(self) -> dict[str, Any]:
        """The counters as health and ``cache stats`` show them."""
        lookups = self.hits + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": round(self.hits / lookups, 4) if lookups else None,
            "stale_served": self.stale,
            "errors": self.errors,
            "lock_waits": self.lock_waits,
            "loads": self.loads,
            "fills": self.fills,
            "refused_fills": self.refused_fills,
            "refreshes": self.refreshes,
            "writes": self.writes,
            "latency_ms_avg": round(self.latency_total / self.latency_count * 1000, 4)
            if self.latency_count
            else None,
            "latency_ms_max": round(self.latency_max * 1000, 4),
        }


class Metrics:
    """All buckets of one cache instance."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], Counters] = {}

    def bucket(self, namespace: str, tier: str) -> Counters:
        """The counters of one namespace and tier (made on first use)."""
        counters = self._buckets.get((namespace, tier))
        if counters is None:
            counters = self._buckets[(namespace, tier)] = Counters()
        return counters

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{namespace: {tier: counters}}``."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for (namespace, tier), counters in sorted(self._buckets.items()):
            out.setdefault(namespace, {})[tier] = counters.as_dict()
        return out

    def totals(self) -> dict[str, int]:
        """Sums over every bucket, for the health summary."""
        keys = ("hits", "misses", "stale", "errors", "lock_waits", "loads", "refused_fills")
        return {
            key: sum(getattr(counters, key) for counters in self._buckets.values()) for key in keys
        }
