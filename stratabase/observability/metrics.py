"""Prometheus metrics: what every process counts, and the exposition ``GET /metrics`` serves.

Two kinds of figures:

- **Counted in the process** (HTTP requests, SQL statements, cache lookups, jobs run,
  rate-limit refusals, slow queries recorded or dropped). They are ``prometheus_client``
  counters and histograms. With several API processes and workers, set
  ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory shared by them (cleared at deploy):
  ``prometheus_client`` then keeps each process's values in a memory-mapped file there and
  the scrape sums them, so one scrape of any process answers for all of them (multiprocess
  mode). Without it, each process is its own target.
- **Read from the database at scrape time** (queue depth per queue and status, the oldest
  queued job's age, ledger transfers, holds and refusals): the same for every process, so
  they are computed by the process being scraped (:func:`database_figures`) and never
  summed twice.

The hot paths pay a dictionary lookup and a counter increment: label children are cached
(:func:`observe_request`), and the cache's own counters (``cache/metrics.py``, plain
integers) are mirrored into Prometheus by :func:`sync` at scrape time and every few
seconds, not per lookup.
"""

from __future__ import annotations

import atexit
import bisect
import os
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from stratabase.cache.metrics import Metrics as CacheMetrics
    from stratabase.db.session import Database

__all__ = [
    "CONTENT_TYPE",
    "HTTP_BUCKETS",
    "SQL_BUCKETS",
    "DatabaseFigures",
    "database_figures",
    "exposition",
    "http_snapshot",
    "job_finished",
    "lease_expired",
    "multiprocess_dir",
    "observe_request",
    "observe_statement",
    "register_cache",
    "register_database",
    "slow_query_dropped",
    "slow_query_recorded",
    "statement_error",
    "sync",
]

#: The exposition's media type (text format 0.0.4).
CONTENT_TYPE = CONTENT_TYPE_LATEST

#: Seconds: the post page answers in well under a millisecond, a search in tens.
HTTP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: Seconds: as the query monitor's histogram (``db/monitor.py``).
SQL_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

#: Seconds between two hand-overs of the pending figures to prometheus_client by traffic.
SYNC_INTERVAL = 5.0

#: Our own registry: importing this module twice (tests) or beside another library's
#: metrics never collides with the global default one.
REGISTRY = CollectorRegistry(auto_describe=False)

HTTP_REQUESTS = Counter(
    "stratabase_http_requests",
    "HTTP requests answered, per route template, method and status.",
    ("route", "method", "status"),
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "stratabase_http_request_duration_seconds",
    "Time to answer an HTTP request (until its last body byte was sent).",
    ("route", "method", "status"),
    buckets=HTTP_BUCKETS,
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "stratabase_rate_limit_refusals",
    "Requests refused by a rate limit (429), per route template.",
    ("route",),
    registry=REGISTRY,
)
SQL_STATEMENTS = Counter("stratabase_db_statements", "SQL statements executed.", registry=REGISTRY)
SQL_ERRORS = Counter(
    "stratabase_db_statement_errors", "SQL statements that raised.", registry=REGISTRY
)
SQL_SLOW = Counter(
    "stratabase_db_slow_statements",
    "SQL statements over STRATABASE_SLOW_QUERY_MS (bulk work excluded).",
    registry=REGISTRY,
)
SQL_LATENCY = Histogram(
    "stratabase_db_statement_duration_seconds",
    "SQL statement execution time.",
    buckets=SQL_BUCKETS,
    registry=REGISTRY,
)
POOL_SIZE = Gauge(
    "stratabase_db_pool_size",
    "Connections the pool holds open (all processes).",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
POOL_CHECKED_OUT = Gauge(
    "stratabase_db_pool_checked_out",
    "Connections in use (all processes).",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "stratabase_db_pool_waiting",
    "Callers waiting for a connection (all processes).",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
_CACHE_LABELS = ("namespace", "tier")
CACHE_HITS = Counter("stratabase_cache_hits", "Cache hits.", _CACHE_LABELS, registry=REGISTRY)
CACHE_MISSES = Counter("stratabase_cache_misses", "Cache misses.", _CACHE_LABELS, registry=REGISTRY)
CACHE_STALE = Counter(
    "stratabase_cache_stale_served",
    "Stale values served (while revalidating, or because the reload failed).",
    _CACHE_LABELS,
    registry=REGISTRY,
)
CACHE_ERRORS = Counter(
    "stratabase_cache_errors", "Cache backend errors.", _CACHE_LABELS, registry=REGISTRY
)
JOBS = Counter(
    "stratabase_jobs",
    "Job attempts finished, per task and outcome (completed, failed, retried).",
    ("task", "outcome"),
    registry=REGISTRY,
)
LEASES_EXPIRED = Counter(
    "stratabase_jobs_lease_expired",
    "Running jobs re-queued (or made dead) because their worker's lease expired.",
    registry=REGISTRY,
)
SLOW_RECORDED = Counter(
    "stratabase_slow_queries_recorded",
    "Slow statements written to query_logs.",
    registry=REGISTRY,
)
SLOW_DROPPED = Counter(
    "stratabase_slow_queries_dropped",
    "Slow statements not recorded: over the rate limit or the buffer was full.",
    registry=REGISTRY,
)

_CACHE_COUNTERS = (
    ("hits", CACHE_HITS),
    ("misses", CACHE_MISSES),
    ("stale", CACHE_STALE),
    ("errors", CACHE_ERRORS),
)

# --- the hot path --------------------------------------------------------------------


class _Pending:
    """Observations not yet handed to ``prometheus_client``: plain numbers, no lock.

    ``prometheus_client`` takes a lock per increment (several per histogram observation,
    ~7 µs on a busy host): the hot paths add here instead and :func:`sync` moves the sums
    over (at every scrape, at most every few seconds with traffic, and at exit).
    """

    __slots__ = ("buckets", "count", "requests", "seconds", "total")

    def __init__(self, bounds: int) -> None:
        self.count = 0
        self.total = 0.0
        #: Non-cumulative, as prometheus_client keeps them: the last one is +Inf.
        self.buckets = [0] * (bounds + 1)
        #: Totals since start (never reset): what :func:`http_snapshot` shows.
        self.requests = 0
        self.seconds = 0.0


_requests: dict[tuple[str, str, int], _Pending] = {}
_statements = _Pending(len(SQL_BUCKETS))
_sql_errors = 0
_sql_slow = 0


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency: a dict lookup and three additions."""
    key = (route, method, status)
    pending = _requests.get(key)
    if pending is None:
        pending = _requests[key] = _Pending(len(HTTP_BUCKETS))
    pending.count += 1
    pending.total += seconds
    pending.buckets[bisect.bisect_left(HTTP_BUCKETS, seconds)] += 1
    pending.requests += 1
    pending.seconds += seconds
    if status == 429:
        RATE_LIMITED.labels(route).inc()
    sync(min_interval=SYNC_INTERVAL)


def observe_statement(elapsed_ms: float, slow: bool) -> None:
    """Count one SQL statement (the query monitor calls this for each)."""
    global _sql_slow
    seconds = elapsed_ms / 1000
    pending = _statements
    pending.count += 1
    pending.total += seconds
    pending.buckets[bisect.bisect_left(SQL_BUCKETS, seconds)] += 1
    if slow:
        _sql_slow += 1
    sync(min_interval=SYNC_INTERVAL)  # a worker is never scraped: it hands over as it goes


def _move(pending: _Pending, counter: Any, histogram: Any) -> None:
    """Hand ``pending`` to a counter (may be None) and a histogram child, then reset it.
    Uses the histogram's value cells (``_sum``, ``_buckets``: non-cumulative, +Inf last),
    the same cells ``observe`` updates, so single and multiprocess modes both work."""
    if not pending.count:
        return
    if counter is not None:
        counter.inc(pending.count)
    histogram._sum.inc(pending.total)
    for index, count in enumerate(pending.buckets):
        if count:
            histogram._buckets[index].inc(count)
            pending.buckets[index] = 0
    pending.count = 0
    pending.total = 0.0


def _move_all() -> None:
    global _sql_errors, _sql_slow
    for (route, method, status), pending in list(_requests.items()):
        if pending.count:
            labels = (route, method, str(status))
            _move(pending, HTTP_REQUESTS.labels(*labels), HTTP_LATENCY.labels(*labels))
    if _statements.count:
        SQL_STATEMENTS.inc(_statements.count)
        _move(_statements, None, SQL_LATENCY)
    if _sql_errors:
        SQL_ERRORS.inc(_sql_errors)
        _sql_errors = 0
    if _sql_slow:
        SQL_SLOW.inc(_sql_slow)
        _sql_slow = 0


def statement_error() -> None:
    """Count one SQL statement that raised."""
    global _sql_errors
    _sql_errors += 1


def job_finished(task: str, outcome: str) -> None:
    """Count one job attempt: ``completed``, ``failed`` (for good) or ``retried``."""
    JOBS.labels(task, outcome).inc()


def lease_expired(count: int) -> None:
    """Count jobs whose worker lost its lease (the reaper re-queued them)."""
    LEASES_EXPIRED.inc(count)


def slow_query_recorded(count: int) -> None:
    """Count slow statements written to ``query_logs``."""
    SLOW_RECORDED.inc(count)


def slow_query_dropped(count: int = 1) -> None:
    """Count slow statements left out (rate limit or full buffer)."""
    SLOW_DROPPED.inc(count)


# --- mirrored sources (per process) ----------------------------------------------------


@dataclass
class _CacheSource:
    metrics: CacheMetrics
    seen: dict[tuple[str, str, str], int] = field(default_factory=dict)


_caches: list[_CacheSource] = []
_databases: weakref.WeakSet[Database] = weakref.WeakSet()
_last_sync = 0.0


def register_cache(metrics: CacheMetrics) -> None:
    """Mirror a cache's counters (``cache.metrics``) into Prometheus from now on."""
    if not any(source.metrics is metrics for source in _caches):
        _caches.append(_CacheSource(metrics))


def register_database(db: Database) -> None:
    """Report a database's pool in the pool gauges (summed over registered databases)."""
    _databases.add(db)


def sync(*, min_interval: float = 0.0) -> None:
    """Bring the mirrored figures up to date: cache counter deltas, pool gauges. Cheap;
    with ``min_interval``, does nothing if the last sync is more recent than that."""
    global _last_sync
    now = time.monotonic()
    if min_interval and now - _last_sync < min_interval:
        return
    _last_sync = now
    _move_all()
    for source in _caches:
        for (namespace, tier), counters in list(source.metrics._buckets.items()):
            for name, counter in _CACHE_COUNTERS:
                value = getattr(counters, name)
                key = (namespace, tier, name)
                delta = value - source.seen.get(key, 0)
                if delta > 0:
                    counter.labels(namespace, tier).inc(delta)
                source.seen[key] = value
    size = checked_out = waiting = 0
    for db in list(_databases):
        stats = db.engines.pool_stats()
        size += stats["size"]
        checked_out += stats["checked_out"]
        waiting += stats["waiting"]
    POOL_SIZE.set(size)
    POOL_CHECKED_OUT.set(checked_out)
    POOL_WAITING.set(waiting)


# --- figures read from the database ---------------------------------------------------


@dataclass
class DatabaseFigures:
    """What the database says at scrape time (the same seen from every process)."""

    #: ``{(queue, status): jobs}``.
    jobs: dict[tuple[str, str], int] = field(default_factory=dict)
    #: ``{queue: seconds}``: age of the oldest job ready to run.
    oldest_queued: dict[str, float] = field(default_factory=dict)
    #: ``{status: transfers}`` (posted, pending, voided…).
    transfers: dict[str, int] = field(default_factory=dict)
    #: Minor units reserved by pending holds.
    held: int = 0
    #: ``{reason code: refusals}`` (refusals kept under an idempotency key).
    refusals: dict[str, int] = field(default_factory=dict)


async def database_figures(db: Database) -> DatabaseFigures:
    """Queue depth and age, ledger transfers, holds and refusals: a few aggregate queries."""
    from sqlalchemy import func, literal_column, select

    from stratabase.db.types import utcnow
    from stratabase.enums import JobStatus
    from stratabase.models import Job, LedgerRefusal, LedgerTransfer

    figures = DatabaseFigures()
    async with db.session() as session:
        rows = await session.execute(
            select(Job.queue, Job.status, func.count()).group_by(Job.queue, Job.status)
        )
        figures.jobs = {(queue, str(status)): count for queue, status, count in rows}
        now = utcnow()
        oldest_rows = await session.execute(
            select(Job.queue, func.min(Job.run_at))
            .where(Job.status == JobStatus.QUEUED, Job.run_at <= now)
            .group_by(Job.queue)
        )
        for queue, oldest in oldest_rows:
            if oldest is not None:
                if oldest.tzinfo is None:
                    oldest = oldest.replace(tzinfo=now.tzinfo)
                figures.oldest_queued[queue] = max(0.0, (now - oldest).total_seconds())
        transfer_rows = await session.execute(
            select(
                LedgerTransfer.status,
                func.count(),
                func.coalesce(func.sum(LedgerTransfer.amount), 0),
            ).group_by(LedgerTransfer.status)
        )
        for status, count, amount in transfer_rows:
            figures.transfers[str(status)] = count
            if str(status) == "pending":
                figures.held = int(amount)
        reason = func.substr(LedgerRefusal.code, literal_column("1"), literal_column("5"))
        refusal_rows = await session.execute(select(reason, func.count()).group_by(reason))
        figures.refusals = {code: count for code, count in refusal_rows}
    return figures


#: Ledger refusal codes, as operators read them.
REFUSAL_REASONS = {"SBIF0": "insufficient_funds", "SBNF0": "no_such_account", "SBCU0": "currency"}


class _FiguresCollector(Collector):
    """Yields one scrape's :class:`DatabaseFigures` as gauges."""

    def __init__(self, figures: DatabaseFigures) -> None:
        self.figures = figures

    def collect(self) -> Iterable[Metric]:
        figures = self.figures
        depth = GaugeMetricFamily(
            "stratabase_queue_jobs",
            "Jobs in the queue table, per queue and status.",
            labels=("queue", "status"),
        )
        for (queue, status), count in sorted(figures.jobs.items()):
            depth.add_metric((queue, status), count)
        oldest = GaugeMetricFamily(
            "stratabase_queue_oldest_queued_age_seconds",
            "Age of the oldest job ready to run, per queue.",
            labels=("queue",),
        )
        for queue, age in sorted(figures.oldest_queued.items()):
            oldest.add_metric((queue,), age)
        transfers = GaugeMetricFamily(
            "stratabase_ledger_transfers", "Ledger transfers, per status.", labels=("status",)
        )
        for status, count in sorted(figures.transfers.items()):
            transfers.add_metric((status,), count)
        held = GaugeMetricFamily(
            "stratabase_ledger_held_amount",
            "Minor units reserved by pending holds.",
            value=figures.held,
        )
        refusals = GaugeMetricFamily(
            "stratabase_ledger_refusals",
            "Ledger movements refused (kept under an idempotency key), per reason.",
            labels=("reason",),
        )
        for code, count in sorted(figures.refusals.items()):
            refusals.add_metric((REFUSAL_REASONS.get(code, code),), count)
        yield from (depth, oldest, transfers, held, refusals)


def multiprocess_dir() -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR`` when multiprocess mode is on, else None."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _process_registry() -> CollectorRegistry:
    path = multiprocess_dir()
    if path is None:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry(auto_describe=False)
    multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return registry


def exposition(figures: DatabaseFigures | None = None) -> bytes:
    """The text exposition: this process's (or, in multiprocess mode, every process's)
    counters, then ``figures`` read from the database."""
    sync()
    body = generate_latest(_process_registry())
    if figures is not None:
        extra = CollectorRegistry(auto_describe=False)
        extra.register(_FiguresCollector(figures))
        body += generate_latest(extra)
    return body


def http_snapshot() -> list[dict[str, Any]]:
    """This process's HTTP figures per route, method and status since it started:
    requests, total seconds and mean milliseconds (plain numbers for a dashboard; the
    exposition has the histograms)."""
    return [
        {
            "route": route,
            "method": method,
            "status": status,
            "requests": pending.requests,
            "seconds_total": round(pending.seconds, 6),
            "mean_ms": round(pending.seconds / pending.requests * 1000, 3)
            if pending.requests
            else None,
        }
        for (route, method, status), pending in sorted(_requests.items())
    ]


#: A process that exits hands its last counts over (multiprocess mode keeps them).
atexit.register(_move_all)
