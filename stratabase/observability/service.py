"""``Observability``: one process's health, metrics and slow-query log, on the composition
root (``sb.observability``). What the HTTP routes, the CLI and the studio read."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stratabase.observability import health, metrics, tracing
from stratabase.observability.slowlog import SlowQuery, SlowQueryRecorder, top_statements

if TYPE_CHECKING:
    from stratabase.app import Stratabase

__all__ = ["Observability"]


class _MetricsObserver:
    """Feeds every SQL statement of a database into the Prometheus counters."""

    def statement(self, statement: str, elapsed_ms: float, *, slow: bool) -> None:
        """Count the statement (and trace it, when tracing is on)."""
        metrics.observe_statement(elapsed_ms, slow)
        if tracing.enabled():
            tracing.record_span(
                "SQL", elapsed_ms / 1000, {"db.statement": statement[:2000], "db.slow": slow}
            )

    def error(self) -> None:
        """Count the error."""
        metrics.statement_error()


_METRICS_OBSERVER = _MetricsObserver()


class Observability:
    """Health, metrics and the slow-query log of ``sb``'s process.

    :meth:`install` hooks the query monitor (SQL metrics, slow-query recording) and the
    cache's counters; every reader below is safe to call at any time (the studio polls them).
    """

    def __init__(self, sb: Stratabase) -> None:
        self.sb = sb
        settings = sb.settings
        self.recorder = SlowQueryRecorder(
            sb.db,
            max_per_second=settings.slow_query_log_rate,
            buffer_size=settings.slow_query_log_buffer,
        )
        self._stats: tuple[float, health.Stats] | None = None
        self._installed = False

    def install(self, *, cache: bool = True) -> None:
        """Start counting: SQL statements (and recording slow ones), the pool, the cache
        (``cache``: also build and mirror the root's cache). Idempotent."""
        if self._installed:
            return
        self._installed = True
        settings = self.sb.settings
        if settings.otel_exporter and not tracing.enabled():
            tracing.configure(settings.otel_exporter, settings.otel_service_name)
        monitor = self.sb.db.monitor
        monitor.observe(_METRICS_OBSERVER)
        if self.sb.settings.slow_query_log:
            monitor.observe(self.recorder)
        metrics.register_database(self.sb.db)
        if cache:
            cache_metrics = getattr(self.sb.cache, "metrics", None)
            if cache_metrics is not None:
                metrics.register_cache(cache_metrics)

    # -- health ------------------------------------------------------------------------

    async def ready(self) -> dict[str, Any]:
        """Readiness: database, cache and queue reachable (``ready`` False names which not)."""
        return await health.check_ready(self.sb.db, self.sb.cache, self.sb.settings.redis_url)

    async def database(self) -> dict[str, Any]:
        """Database latency, pool and query figures."""
        return await health.check_database(self.sb.db)

    async def cache(self) -> dict[str, Any]:
        """Cache latency per tier, breaker state, hit rates per namespace."""
        return await health.check_cache(self.sb.cache)

    async def stats(self, *, fresh: bool = False) -> health.Stats:
        """Row counts (users, posts by kind and status, …), kept ``health_stats_ttl`` seconds."""
        now = time.monotonic()
        cached = self._stats
        if not fresh and cached is not None and now - cached[0] < self.sb.settings.health_stats_ttl:
            return cached[1]
        built = self.sb.__dict__
        subscribers = built["changes"].subscribers if "changes" in built else None
        stats = await health.collect_stats(self.sb.db, subscribers=subscribers)
        self._stats = (now, stats)
        return stats

    # -- metrics -----------------------------------------------------------------------

    async def metrics_text(self) -> bytes:
        """The Prometheus exposition (``GET /metrics``)."""
        figures = await metrics.database_figures(self.sb.db)
        return metrics.exposition(figures)

    def numbers(self) -> dict[str, Any]:
        """This process's current figures as plain numbers, for a dashboard (the studio):
        HTTP requests and latency per route, SQL counts, pool, cache per namespace."""
        metrics.sync()
        out: dict[str, Any] = {
            "sql": self.sb.db.monitor.stats.as_dict(),
            "pool": self.sb.db.engines.pool_stats(),
            "slow_queries": {"recorded": self.recorder.recorded, "dropped": self.recorder.dropped},
        }
        cache_metrics = getattr(self.sb.__dict__.get("cache"), "metrics", None)
        out["cache"] = cache_metrics.snapshot() if cache_metrics is not None else {}
        out["http"] = metrics.http_snapshot()
        return out

    # -- slow queries --------------------------------------------------------------------

    async def slow_queries(
        self, *, since: datetime | None = None, top: int = 20
    ) -> list[SlowQuery]:
        """The slowest statement shapes recorded since ``since``, by total time (buffered
        records written first)."""
        await self.recorder.flush()
        return await top_statements(self.sb.db, since=since, top=top)

    async def close(self) -> None:
        """Write the buffered slow-query records."""
        await self.recorder.close()
