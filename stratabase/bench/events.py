"""``stratabase bench events``: product-event ingestion over HTTP, and the analytics job.

**Ingestion.** One ``stratabase serve --workers 1`` process on a scratch database (rate
limits off), driven by wrk with ``bench/wrk/requests.lua``: every request is a
``POST /v1/events`` of a batch of 100 valid events (``episode_opened``, ``post_viewed``,
``search_performed``) from one of the signed-in members. The figure is events *stored* per
second — rows counted in ``user_events`` before and after the run, over wrk's duration —
against the issue's target of 20,000/s on PostgreSQL.

**Aggregation.** A day of synthetic events (10 M on PostgreSQL, 2 M on SQLite; 1 M and
200 k with ``--quick``) is generated inside the database (``generate_series`` / a
recursive CTE, spread over the day and over the members), then ``analytics.aggregate``
rebuilds that day once, timed. Under ``--quick`` the time is also extrapolated linearly
to 10 M events (the job is three grouped scans of the day: linear in its events).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.analytics.aggregate import aggregate_day
from stratabase.auth import service as auth
from stratabase.bench._server import _cpu_seconds
from stratabase.bench._wrk import Request, write_requests, wrk_binary
from stratabase.bench._wrk import run as run_wrk
from stratabase.bench.api import _pg_admin
from stratabase.bench.changes import _free_port
from stratabase.bench.report import BenchContext, Result
from stratabase.db import migrate
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.exceptions import ConfigError
from stratabase.models import Episode, Organization, Project, User, UserEvent
from stratabase.settings import Settings

#: Events per request, as the issue states the target.
BATCH = 100
#: Members sending events (each with its own token), and users in total.
SENDERS = 32
USERS = 1_000
TARGET_EVENTS_PER_S = 20_000
START_TIMEOUT = 60.0


def _sizes(backend: str, quick: bool) -> int:
    if backend == "postgres":
        return 1_000_000 if quick else 10_000_000
    return 200_000 if quick else 2_000_000


async def run(ctx: BenchContext) -> list[Result]:
    """Ingestion rate over HTTP and aggregation time, on a scratch database (module doc)."""
    wrk_binary()
    quick = bool(ctx.options.get("quick"))
    if ctx.backend == "postgres":
        if ctx.settings.backend != "postgres":
            raise ConfigError(
                "--backend postgres: set STRATABASE_DATABASE_URL to a PostgreSQL server "
                "(the suite creates and drops a scratch database on it)"
            )
        name = f"sb_bench_events_{secrets.token_hex(4)}"
        await _pg_admin(ctx.settings.database_url, f"CREATE DATABASE {name}")
        url = make_url(ctx.settings.database_url).set(database=name).render_as_string(False)
        try:
            return await _measure(ctx.settings, url, "postgres", quick)
        finally:
            await _pg_admin(
                ctx.settings.database_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )
    with tempfile.TemporaryDirectory(prefix="sb-bench-events-") as scratch:
        return await _measure(
            ctx.settings, f"sqlite:///{Path(scratch) / 'events.db'}", "sqlite", quick
        )


async def _measure(base: Settings, url: str, backend: str, quick: bool) -> list[Result]:
    # no statement timeout: generating and aggregating millions of rows takes longer
    settings = base.model_copy(
        update={"database_url": url, "redis_url": "", "statement_timeout_ms": 0}
    )
    db = Database(settings)
    try:
        await migrate.upgrade(db)
        first_user, episode_id = await _setup(db)
        tokens = [
            (await auth.open_session(db, first_user + n, auth.ClientInfo(device="bench"))).token
            for n in range(SENDERS)
        ]
        with tempfile.TemporaryDirectory(prefix="sb-bench-events-") as scratch:
            requests = write_requests(Path(scratch) / "events.tsv", _requests(tokens, episode_id))
            ingest = await _ingest(settings, db, requests, quick)
        size = _sizes(backend, quick)
        day = utcnow().date() - timedelta(days=1)
        generated = await _generate(db, backend, size, first_user, episode_id, day)
        started = time.perf_counter()
        counts = await db.transaction(lambda session: aggregate_day(session, day))
        seconds = time.perf_counter() - started
    finally:
        await db.dispose()
    events_per_s, wrk_run, stored, server_cpu = ingest
    results = [
        Result(
            f"events stored per second over HTTP, batches of {BATCH}, 1 API process",
            events_per_s,
            "events/s",
            reference=TARGET_EVENTS_PER_S,
            target=1.0 if backend == "postgres" else None,
            note=f"{stored:,} events in {wrk_run.seconds:.1f} s; "
            f"target ≥ {TARGET_EVENTS_PER_S:,}/s on PostgreSQL (reference column)",
        ),
        Result(
            "events stored per second of API-process CPU",
            stored / server_cpu if server_cpu else 0.0,
            "events/cpu-s",
            note=f"the server used {server_cpu:.1f} CPU-s over the run "
            f"({server_cpu / wrk_run.seconds:.0%} of a core): its rate on a core of its own",
        ),
        Result(f"batch request p50, {BATCH} events", wrk_run.p50_ms, "ms", better="lower"),
        Result(
            f"batch request p99, {BATCH} events",
            wrk_run.p99_ms,
            "ms",
            better="lower",
            note=f"non-2xx {wrk_run.non2xx}, socket errors {wrk_run.socket_errors}, "
            f"wrk took {wrk_run.cpu_share:.0%} of a core",
        ),
        Result(
            f"analytics.aggregate of one day, {generated:,} events",
            seconds,
            "s",
            better="lower",
            note=f"rows: {json.dumps(counts)}",
        ),
    ]
    if generated < 10_000_000:
        results.append(
            Result(
                "analytics.aggregate extrapolated to 10,000,000 events (linear)",
                seconds * 10_000_000 / generated,
                "s",
                better="lower",
                note=f"measured on {generated:,} events",
            )
        )
    return results


async def _setup(db: Database) -> tuple[int, int]:
    """An organization, USERS users (the first SENDERS and every other one its members),
    a project and an episode. Returns the first user's id (ids are contiguous) and the
    episode's id."""
    now = utcnow()
    tag = secrets.token_hex(3)

    async def work(session: AsyncSession) -> tuple[int, int]:
        org = Organization(name="Bench", slug=f"bench-{tag}", token_quota=10**9)
        session.add(org)
        await session.flush()
        rows = [
            {
                "email": f"bench{n}-{tag}@example.com",
                "username": f"bench{n}_{tag}",
                "name": f"Bench {n}",
                "timezone": "UTC",
                "role": "user",
                "status": "active",
                "organization_id": org.id if n < SENDERS or n % 2 == 0 else None,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(USERS)
        ]
        await session.execute(insert(User), rows)
        ids = list(
            await session.scalars(
                select(User.id).where(User.username.like(f"bench%_{tag}")).order_by(User.id)
            )
        )
        if ids != list(range(ids[0], ids[0] + USERS)):
            raise RuntimeError("bench events: user ids are not contiguous")
        project = Project(organization_id=org.id, name="Bench weekly", owner_id=ids[0])
        session.add(project)
        await session.flush()
        episode = Episode(project_id=project.id, scheduled_for=now)
        session.add(episode)
        await session.flush()
        return ids[0], episode.id

    return await db.transaction(work)


def _requests(tokens: list[str], episode_id: int) -> list[Request]:
    out = []
    for index, token in enumerate(tokens):
        for variant in range(4):
            events: list[dict[str, Any]] = []
            for n in range(BATCH):
                kind = (n + variant) % 3
                if kind == 0:
                    data: dict[str, Any] = {
                        "episode_id": episode_id,
                        "reading_time": (n * 7 + index) % 600,
                    }
                    events.append({"type": "episode_opened", "data": data})
                elif kind == 1:
                    events.append({"type": "post_viewed", "data": {"post_id": 1 + n}})
                else:
                    data = {"query": f"topic {n % 17}", "results": n % 9}
                    events.append({"type": "search_performed", "data": data})
            body = json.dumps({"events": events}, separators=(",", ":"))
            out.append(Request("events", "POST", "/v1/events", token, body))
    return out


async def _count(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(UserEvent)) or 0)


def _spawn(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env |= {
        "STRATABASE_DATABASE_URL": settings.database_url,
        "STRATABASE_RATE_LIMIT_WRITE": "0",
        "STRATABASE_RATE_LIMIT_READ": "0",
        "STRATABASE_LOG_LEVEL": "WARNING",
        "STRATABASE_WORKERS": "1",
        "STRATABASE_PORT": str(port),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "stratabase", "serve", "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _ingest(
    settings: Settings, db: Database, requests: Path, quick: bool
) -> tuple[float, Any, int, float]:
    port = _free_port()
    server = _spawn(settings, port)
    try:
        async with httpx.AsyncClient(trust_env=False) as http:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                try:
                    await http.get(f"http://127.0.0.1:{port}/health", timeout=2)
                    break
                except httpx.TransportError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise ConfigError(
                            "bench events: `stratabase serve` did not start"
                        ) from None
                    await asyncio.sleep(0.1)
        url = f"http://127.0.0.1:{port}"
        # warm-up: connections, statement caches, the token cache
        await asyncio.to_thread(run_wrk, url, requests, threads=1, connections=4, seconds=1)
        before = await _count(db)
        cpu_before = _tree_cpu(server.pid)
        wrk_run = await asyncio.to_thread(
            run_wrk, url, requests, threads=2, connections=16, seconds=5 if quick else 15
        )
        cpu = _tree_cpu(server.pid) - cpu_before
        stored = await _count(db) - before
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    return stored / wrk_run.seconds if wrk_run.seconds else 0.0, wrk_run, stored, cpu


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its descendants (the server may fork workers)."""
    total = _cpu_seconds(pid)
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = task.read_text().split()
        except OSError:
            continue
        total += sum(_tree_cpu(int(child)) for child in children)
    return total


async def _generate(
    db: Database, backend: str, size: int, first_user: int, episode_id: int, day: date
) -> int:
    """``size`` events on ``day``, made inside the database; returns how many."""
    start = datetime.combine(day, clock(0), UTC)
    if backend == "postgres":
        statement = text(
            """
            INSERT INTO user_events (user_id, event_type, event_data, created_at)
            SELECT :first + i % :users,
                   (ARRAY['episode_opened', 'post_viewed', 'search_performed'])[1 + i % 3],
                   CASE i % 3
                     WHEN 0 THEN jsonb_build_object('episode_id', CAST(:episode AS bigint),
                                                    'reading_time', i % 600)
                     WHEN 1 THEN jsonb_build_object('post_id', 1 + i % 1000)
                     ELSE jsonb_build_object('query', 'topic', 'results', i % 9)
                   END,
                   CAST(:start AS timestamptz) + make_interval(secs => i % 86400)
              FROM generate_series(1, :size) AS i
            """
        )
        params: dict[str, Any] = {"start": start}
    else:
        statement = text(
            """
            WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :size)
            INSERT INTO user_events (user_id, event_type, event_data, created_at)
            SELECT :first + i % :users,
                   CASE i % 3 WHEN 0 THEN 'episode_opened' WHEN 1 THEN 'post_viewed'
                              ELSE 'search_performed' END,
                   CASE i % 3
                     WHEN 0 THEN json_object('episode_id', :episode, 'reading_time', i % 600)
                     WHEN 1 THEN json_object('post_id', 1 + i % 1000)
                     ELSE json_object('query', 'topic', 'results', i % 9)
                   END,
                   strftime('%Y-%m-%d %H:%M:%f', CAST(:epoch AS INTEGER) + i % 86400, 'unixepoch')
              FROM seq
            """
        )
        params = {"epoch": str(int(start.timestamp()))}
    params |= {"first": first_user, "users": USERS, "episode": episode_id, "size": size}
    chunk = 500_000

    async def work(session: AsyncSession) -> None:
        await session.execute(statement, params)

    for offset in range(0, size, chunk):
        params["size"] = min(chunk, size - offset)
        await db.transaction(work)
    async with db.engine.begin() as connection:
        await connection.execute(text("ANALYZE user_events"))
    return size
