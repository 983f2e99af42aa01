"""What the studio's overview shows: one snapshot of the process and the database.

In-memory figures (the studio's timeline, the query monitor, the pool, cache counters,
recent slow statements) cost nothing; the queue and ledger figures are a few grouped
reads; ``ledger verify`` scans the ledger, so its verdict is kept for
:data:`VERIFY_TTL` seconds and recomputed by one caller at a time.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from stratabase.app import Stratabase
from stratabase.db.types import utcnow
from stratabase.enums import JobStatus
from stratabase.jobs import queries as job_queries
from stratabase.ledger import verify as ledger_verify
from stratabase.models import Job, LedgerAccount, LedgerTransfer
from stratabase.studio.slowlog import SlowLog
from stratabase.studio.timeline import Gauges, Timeline

#: Seconds a ``ledger verify`` verdict is reused.
VERIFY_TTL = 60.0
_FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.DEAD)


def cache_rates(sb: Stratabase) -> dict[str, dict[str, int]]:
    """Hits and lookups per cache namespace, over its tiers (the first tier sees every
    lookup; a hit in any tier is a hit)."""
    metrics = getattr(sb.cache, "metrics", None)
    if metrics is None:
        return {}
    out: dict[str, dict[str, int]] = {}
    for namespace, tiers in metrics.snapshot().items():
        hits = sum(t["hits"] for t in tiers.values())
        lookups = max(t["hits"] + t["misses"] for t in tiers.values())
        stale = sum(t["stale_served"] for t in tiers.values())
        errors = sum(t["errors"] for t in tiers.values())
        out[namespace] = {"hits": hits, "lookups": lookups, "stale": stale, "errors": errors}
    return out


def gauges(sb: Stratabase) -> Gauges:
    """The cheap per-second gauges the timeline samples (no I/O)."""
    stats = sb.db.monitor.stats
    pool = sb.db.engines.pool_stats()
    out: Gauges = {
        "sql": stats.count,
        "sql_slow": stats.slow,
        "sql_errors": stats.errors,
        "pool_checked_out": pool["checked_out"],
        "pool_waiting": pool["waiting"],
        "pool_size": pool["size"],
    }
    for namespace, counts in cache_rates(sb).items():
        out[f"cache.{namespace}.hits"] = counts["hits"]
        out[f"cache.{namespace}.lookups"] = counts["lookups"]
    return out


@dataclass
class VerifyCache:
    """The last ``ledger verify`` verdict, recomputed at most every :data:`VERIFY_TTL` s."""

    checked_at: float = 0.0
    verdict: dict[str, Any] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self, sb: Stratabase, *, fresh: bool = False) -> dict[str, Any]:
        """The verdict, recomputed if older than the TTL (or ``fresh``)."""
        async with self.lock:
            stale = time.time() - self.checked_at > VERIFY_TTL
            if self.verdict is None or stale or fresh:
                started = time.perf_counter()
                report = await ledger_verify.verify(sb.db, limit=5)
                self.checked_at = time.time()
                self.verdict = {
                    "ok": report.ok,
                    "violations": report.violations[:10],
                    "counts": report.counts,
                    "checked_at": self.checked_at,
                    "took_ms": round((time.perf_counter() - started) * 1000, 1),
                }
            return self.verdict


async def _jobs(sb: Stratabase) -> dict[str, Any]:
    stats = await job_queries.stats(sb.db)
    since = utcnow() - timedelta(minutes=15)
    recent = utcnow() - timedelta(minutes=1)
    finished = (
        select(Job.status, func.count(), func.count().filter(Job.finished_at >= recent))
        .where(Job.status.in_(_FINISHED), Job.finished_at >= since)
        .group_by(Job.status)
    )
    async with sb.db.session() as session:
        rows = (await session.execute(finished)).all()
    done_15m = {JobStatus(status).value: int(n) for status, n, _ in rows}
    done_1m = {JobStatus(status).value: int(n) for status, _, n in rows}
    body = stats.as_dict()
    body["finished_15m"] = done_15m
    body["finished_1m"] = done_1m
    totals = body["totals"]
    body["depth"] = totals.get("queued", 0) + totals.get("running", 0)
    return body


async def _ledger(sb: Stratabase, verdicts: VerifyCache) -> dict[str, Any]:
    balances = (
        select(
            LedgerAccount.currency,
            LedgerAccount.kind,
            func.count(),
            func.coalesce(func.sum(LedgerAccount.balance), 0),
            func.coalesce(func.sum(LedgerAccount.pending_debits), 0),
        )
        .group_by(LedgerAccount.currency, LedgerAccount.kind)
        .order_by(LedgerAccount.currency, LedgerAccount.kind)
    )
    transfers = select(LedgerTransfer.status, func.count()).group_by(LedgerTransfer.status)
    async with sb.db.session() as session:
        rows = (await session.execute(balances)).all()
        by_status = (await session.execute(transfers)).all()
    return {
        "totals": [
            {
                "currency": currency,
                "kind": str(getattr(kind, "value", kind)),
                "accounts": int(accounts),
                "balance": int(balance),
                "held": int(held),
            }
            for currency, kind, accounts, balance, held in rows
        ],
        "transfers": {str(getattr(s, "value", s)): int(n) for s, n in by_status},
        "verify": await verdicts.get(sb),
    }


def _cache_table(sb: Stratabase) -> list[dict[str, Any]]:
    rows = []
    for namespace, counts in sorted(cache_rates(sb).items()):
        lookups = counts["lookups"]
        rows.append(
            {
                "namespace": namespace,
                **counts,
                "hit_rate": round(counts["hits"] / lookups, 4) if lookups else None,
            }
        )
    return rows


async def overview(
    sb: Stratabase, timeline: Timeline, slow: SlowLog, verdicts: VerifyCache
) -> dict[str, Any]:
    """Everything the overview page draws, as JSON-ready values."""
    jobs = await _jobs(sb)
    timeline.add_gauges(
        {
            "jobs_depth": jobs["depth"],
            "jobs_finished_1m": sum(jobs["finished_1m"].values()),
        }
    )
    timeline.sample()
    series = [bucket.as_dict() for bucket in timeline.buckets(width=10)]
    last_minute = series[-6:]
    requests = sum(b["requests"] for b in last_minute)
    errors = sum(b["errors"] for b in last_minute)
    p99s = [b["p99_ms"] for b in last_minute if b["p99_ms"] is not None]
    queries = sb.db.monitor.stats.as_dict()
    queries.pop("histogram", None)
    return {
        "now": time.time(),
        "process": os.getpid(),
        "backend": sb.db.backend,
        "cache_mode": sb.cache.mode,
        "requests": {
            "rate": round(requests / 60, 3),
            "p99_ms": max(p99s) if p99s else None,
            "error_rate": round(errors / requests, 4) if requests else 0.0,
            "total_15m": sum(b["requests"] for b in series),
        },
        "series": series,
        "cache": _cache_table(sb),
        "pool": sb.db.engines.pool_stats(),
        "queries": queries,
        "slow_queries": {
            "threshold_ms": sb.db.monitor.slow_ms,
            "recent": list(slow.recent)[-10:][::-1],
            "top": slow.top(10),
        },
        "jobs": jobs,
        "ledger": await _ledger(sb, verdicts),
    }


__all__ = ["VERIFY_TTL", "VerifyCache", "cache_rates", "gauges", "overview"]
